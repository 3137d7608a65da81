"""Microsoft Graph v1.0 calendar operations (registered with `api.route`): events with
attendees, Teams meetings and single-value extended properties, attendees' answers,
`calendar/getSchedule`, `calendarView` and its delta.

Reading only one's own events: Graph's calendarView delta takes no $filter (nor $expand,
$select, $orderby or $search; see learn.microsoft.com/graph/api/event-delta), so a client
that must read nothing but the events it tagged lists them with
`GET /me/events?$filter=singleValueExtendedProperties/any(ep: ep/id eq '…' and ep/value
eq '…')`, as the singleValueLegacyExtendedProperty reference documents. The delta here
refuses a $filter rather than ignoring it, so nobody builds on a filter Graph lacks.
"""

import re
from datetime import datetime, timedelta

from django.db.models import QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse

from sandbox import selectors
from sandbox.microsoft import calendar, errors
from sandbox.microsoft import event_representation as shapes
from sandbox.microsoft.api import Call, GraphResponse, int_param, route
from sandbox.microsoft.errors import GraphError
from sandbox.microsoft.graph_views import _json_body
from sandbox.models import CalendarEvent, Mailbox, Provider
from sandbox.services import SandboxError

EVENT_COLLECTIONS = ("me/events", "me/calendar/events")
DEFAULT_TOP, MAX_TOP = 10, 1000
DELTA_PAGE, MAX_DELTA_PAGE = 10, 1000
WORK_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
WORK_START, WORK_END = "08:00:00.0000000", "17:00:00.0000000"
MAX_SCHEDULES = 100
MAX_SCHEDULE_DAYS = 62
# availabilityView digits and their precedence within one interval.
AVAILABILITY = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}
PRECEDENCE = ["free", "tentative", "workingElsewhere", "busy", "oof"]

_QUOTED = r"'((?:[^']|'')*)'"
_PROPERTY_FILTER = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+"
    + _QUOTED
    + r"(?:\s+and\s+\1/value\s+eq\s+"
    + _QUOTED
    + r")?\s*\)\s*$",
    re.IGNORECASE,
)
_EXPAND = re.compile(
    r"^\s*singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.*)\))?\s*$", re.IGNORECASE
)
_EXPAND_ID = re.compile(r"id\s+eq\s+" + _QUOTED, re.IGNORECASE)


def _unquote(value: str) -> str:
    return value.replace("''", "'")


# --- Reading requests --------------------------------------------------------------------


def teams_root(graph_root: str) -> str:
    return graph_root.rsplit("/graph/", 1)[0] + "/teams"


def _fields(call: Call, *, creating: bool) -> calendar.EventFields:
    body = _json_body(call)
    fields = calendar.EventFields(teams_root=teams_root(call.request.root_url))
    if "subject" in body:
        fields.summary = str(body["subject"] or "")
    if isinstance(body.get("body"), dict):
        fields.description = str(body["body"].get("content") or "")
    if isinstance(body.get("location"), dict):
        fields.location = str(body["location"].get("displayName") or "")
    if "start" in body or creating:
        fields.start, fields.time_zone = shapes.parse_date_time_zone(body.get("start"), "Start")
    if "end" in body or creating:
        fields.end, _ = shapes.parse_date_time_zone(body.get("end"), "End")
    if "attendees" in body:
        fields.attendees = [_attendee(a) for a in body["attendees"] or []]
    if "isOnlineMeeting" in body:
        wanted = bool(body["isOnlineMeeting"])
        provider = body.get("onlineMeetingProvider", "teamsForBusiness")
        if wanted and provider != "teamsForBusiness":
            raise errors.bad_request(
                f"Online meeting provider '{provider}' is not allowed for this calendar."
            )
        fields.teams_meeting = wanted
    if "showAs" in body:
        fields.transparent = body["showAs"] == "free"
    for prop in body.get("singleValueExtendedProperties") or []:
        if not isinstance(prop, dict) or not prop.get("id"):
            raise errors.bad_request("An extended property needs an id.")
        fields.properties[str(prop["id"])] = str(prop.get("value") or "")
    return fields


def _attendee(value: object) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("emailAddress"), dict):
        raise errors.bad_request("An attendee needs an emailAddress.")
    address = str(value["emailAddress"].get("address") or "")
    if "@" not in address:
        raise GraphError(400, "ErrorInvalidRecipients", f"'{address}' is not a valid address.")
    return {
        "email": address,
        "displayName": str(value["emailAddress"].get("name") or ""),
        "optional": value.get("type") == "optional",
    }


def _expanded(call: Call) -> tuple[list[str] | None, bool]:
    """($expand's property ids or None, whether all of them were asked for)."""
    expand = call.query.get("$expand", "")
    if not expand:
        return None, False
    found = _EXPAND.match(expand)
    if found is None:
        raise errors.unsupported_query(f"Could not find a property named '{expand}'.")
    if found.group(1) is None:
        return None, True
    return [_unquote(v) for v in _EXPAND_ID.findall(found.group(1))], False


def _resource(call: Call, event: CalendarEvent) -> dict:
    wanted, everything = _expanded(call)
    resource = shapes.event_resource(
        event,
        call.mailbox,
        zone_name=shapes.preferred_zone(call.request.prefer),
        root_url=call.request.root_url,
        expand_properties=wanted,
        expand_all_properties=everything,
    )
    select = [name.strip() for name in call.query.get("$select", "").split(",") if name.strip()]
    if not select:
        return resource
    # Graph always answers the id and etag; an expanded navigation property stays too.
    kept = {"id", "@odata.etag", "singleValueExtendedProperties", *select}
    return {name: value for name, value in resource.items() if name in kept}


def _calendar(call: Call) -> QuerySet[CalendarEvent]:
    return CalendarEvent.objects.filter(mailbox=call.mailbox, removed_at__isnull=True)


def _event(call: Call) -> CalendarEvent:
    event = _calendar(call).filter(provider_id=call.params["id"]).first()
    if event is None:
        raise errors.item_not_found()
    event.mailbox = call.mailbox
    return event


def _preference_applied(call: Call) -> dict:
    zone_name = shapes.preferred_zone(call.request.prefer)
    if zone_name == "UTC" and "outlook.timezone" not in call.request.prefer.lower():
        return {}
    return {"Preference-Applied": f'outlook.timezone="{zone_name}"'}


def _answer(call: Call, status: int, payload: dict) -> GraphResponse:
    return GraphResponse(status, payload, headers=_preference_applied(call))


# --- Events ------------------------------------------------------------------------------


def _event_routes(method: str, suffix: str, operation: str):
    def register(handler):
        for collection in EVENT_COLLECTIONS:
            route(method, collection + suffix, operation)(handler)
        return handler

    return register


@_event_routes("POST", "", "graph.events.create")
def events_create(call: Call) -> GraphResponse:
    fields = _fields(call, creating=True)
    event = calendar.event_create(mailbox=call.mailbox, fields=fields)
    payload = {
        "@odata.context": f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')"
        "/events/$entity",
        **_resource(call, event),
    }
    return _answer(call, 201, payload)


@_event_routes("GET", "/{id}", "graph.events.get")
def events_get(call: Call) -> GraphResponse:
    return _answer(call, 200, _resource(call, _event(call)))


@_event_routes("PATCH", "/{id}", "graph.events.update")
def events_update(call: Call) -> GraphResponse:
    event = calendar.event_update(event=_event(call), fields=_fields(call, creating=False))
    return _answer(call, 200, _resource(call, event))


@_event_routes("DELETE", "/{id}", "graph.events.delete")
def events_delete(call: Call) -> GraphResponse:
    calendar.event_delete(event=_event(call))
    return GraphResponse(204, None)


@_event_routes("POST", "/{id}/cancel", "graph.events.cancel")
def events_cancel(call: Call) -> GraphResponse:
    event = _event(call)
    try:
        calendar.event_cancel(event=event)
    except SandboxError as error:
        raise GraphError(400, "ErrorAccessDenied", error.message) from error
    return GraphResponse(202, None)


def _respond(action: str):
    def respond(call: Call) -> GraphResponse:
        _json_body(call)  # {"comment", "sendResponse"}: nothing to store in the sandbox.
        try:
            calendar.event_respond(event=_event(call), action=action)
        except SandboxError as error:
            raise GraphError(400, "ErrorInvalidRequest", error.message) from error
        return GraphResponse(202, None)

    return respond


for _action in calendar.RESPONSES:
    _event_routes("POST", f"/{{id}}/{_action}", f"graph.events.{_action}")(_respond(_action))


def _property_filter(events: QuerySet[CalendarEvent], expression: str) -> QuerySet:
    found = _PROPERTY_FILTER.match(expression)
    if found is None:
        raise errors.unsupported_query(
            f"The sandbox filters events by singleValueExtendedProperties/any(…) only, "
            f"not '{expression}'."
        )
    key, value = _unquote(found.group(2)), found.group(3)
    events = events.filter(private_properties__has_key=key)
    if value is None:
        return events
    # Cast: SQLite would otherwise compare the key's text with the value read as JSON.
    text = Cast(KeyTextTransform(key, "private_properties"), TextField())
    return events.annotate(tagged=text).filter(tagged=_unquote(value))


def _paged_list(call: Call, events: QuerySet[CalendarEvent], context: str) -> GraphResponse:
    if call.query.get("$filter"):
        events = _property_filter(events, str(call.query["$filter"]))
    top = min(max(int_param(call, "$top", DEFAULT_TOP), 1), MAX_TOP)
    skip = int_param(call, "$skip", 0)
    rows = list(events.order_by("start", "pk")[skip : skip + top + 1])
    payload: dict = {
        "@odata.context": f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')"
        f"/{context}",
        "value": [_resource(call, event) for event in rows[:top]],
    }
    if len(rows) > top:
        following = call.query.copy()
        following["$top"], following["$skip"] = str(top), str(skip + top)
        path = call.request.path.split("?", 1)[0]
        payload["@odata.nextLink"] = f"{call.request.root_url}/{path}?{following.urlencode()}"
    return _answer(call, 200, payload)


@_event_routes("GET", "", "graph.events.list")
def events_list(call: Call) -> GraphResponse:
    return _paged_list(call, _calendar(call), "events")


# --- Calendar view and its delta ---------------------------------------------------------


def _window_param(call: Call, name: str) -> datetime:
    value = call.query.get(name, "")
    if not value:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
        )
    moment, _ = shapes.parse_date_time_zone({"dateTime": value, "timeZone": "UTC"}, name)
    return moment


def _in_window(events: QuerySet[CalendarEvent], start: datetime, end: datetime) -> QuerySet:
    return events.filter(start__lt=end, end__gt=start)


@route("GET", "me/calendarView", "graph.calendarView.list")
@route("GET", "me/calendar/calendarView", "graph.calendarView.list")
def calendar_view(call: Call) -> GraphResponse:
    start, end = _window_param(call, "startDateTime"), _window_param(call, "endDateTime")
    return _paged_list(call, _in_window(_calendar(call), start, end), "calendarView")


def _delta_link(call: Call, kind: str, state: dict) -> str:
    token = selectors.encode_token(state)
    return f"{call.request.root_url}/me/calendarView/delta?${kind}={token}"


def _delta_state(call: Call) -> dict:
    for kind in ("$skiptoken", "$deltatoken"):
        value = call.query.get(kind, "")
        if value:
            try:
                state = selectors.decode_token(value)
            except SandboxError as error:
                raise GraphError(410, "SyncStateInvalid", "The sync state is invalid.") from error
            if int(state.get("w", state["W"])) < call.mailbox.history_floor:
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found. The delta token is expired and "
                    "data must be synchronized again.",
                )
            if kind == "$deltatoken":
                # A new round: changes after the last round's watermark, up to now.
                return {"v": state["v"], "w": state["W"], "W": call.mailbox.history_id}
            return state
    start, end = _window_param(call, "startDateTime"), _window_param(call, "endDateTime")
    return {"v": [start.isoformat(), end.isoformat()], "W": call.mailbox.history_id}


def _delta_page(call: Call, state: dict, size: int) -> tuple[list[dict], dict | None]:
    start, end = (datetime.fromisoformat(v) for v in state["v"])
    after = int(state.get("k", 0))
    if "w" not in state:
        # The round's first pass: everything in the window, by row.
        rows = list(
            _in_window(_calendar(call), start, end).filter(pk__gt=after).order_by("pk")[: size + 1]
        )
        items = [
            {"@odata.type": "#microsoft.graph.event", **_resource(call, e)} for e in rows[:size]
        ]
    else:
        # Later rounds: the rows that changed since the watermark, in change order.
        rows = list(
            # A mailbox's change positions are unique, so they alone page the round.
            CalendarEvent.objects.filter(
                mailbox=call.mailbox,
                changed_seq__gt=int(state.get("c", state["w"])),
                changed_seq__lte=int(state["W"]),
            ).order_by("changed_seq")[: size + 1]
        )
        items = []
        for event in rows[:size]:
            event.mailbox = call.mailbox
            gone = event.removed_at is not None or not (event.start < end and event.end > start)
            items.append(
                shapes.removed_event(event.provider_id)
                if gone
                else {"@odata.type": "#microsoft.graph.event", **_resource(call, event)}
            )
    if len(rows) <= size:
        return items, None
    last = rows[size - 1]
    return items, {**state, "k": last.pk, "c": last.changed_seq}


@route("GET", "me/calendarView/delta", "graph.calendarView.delta")
@route("GET", "me/calendarView/microsoft.graph.delta()", "graph.calendarView.delta")
def calendar_view_delta(call: Call) -> GraphResponse:
    for refused in ("$filter", "$expand", "$select", "$orderby", "$search"):
        if call.query.get(refused):
            raise errors.unsupported_query(
                f"The query parameter '{refused}' is not supported with calendarView delta."
            )
    call.mailbox.refresh_from_db(fields=["history_id", "history_floor"])
    state = _delta_state(call)
    size = min(max(call.request.max_page_size or DELTA_PAGE, 1), MAX_DELTA_PAGE)
    items, following = _delta_page(call, state, size)
    payload: dict = {"@odata.context": f"{call.request.root_url}/$metadata#Collection(event)"}
    if following is not None:
        payload["@odata.nextLink"] = _delta_link(call, "skiptoken", following)
    else:
        payload["@odata.deltaLink"] = _delta_link(
            call, "deltatoken", {"v": state["v"], "W": state["W"]}
        )
    payload["value"] = items
    return _answer(call, 200, payload)


# --- Free/busy ---------------------------------------------------------------------------


def _schedule_error(address: str) -> dict:
    return {
        "scheduleId": address,
        "availabilityView": "",
        "scheduleItems": [],
        "error": {
            "message": "The specified object was not found in the store., The process failed "
            "to get the correct properties.",
            "responseCode": "ErrorMailRecipientNotFound",
        },
    }


def _availability_view(
    items: list[tuple[datetime, datetime, str]], start: datetime, end: datetime, minutes: int
) -> str:
    view = []
    step = timedelta(minutes=minutes)
    slot = start
    while slot < end:
        statuses = [status for s, e, status in items if s < slot + step and e > slot]
        view.append(AVAILABILITY[max(statuses or ["free"], key=PRECEDENCE.index)])
        slot += step
    return "".join(view)


def _schedule(
    call: Call, owner: Mailbox, start: datetime, end: datetime, zone_name: str, minutes: int
) -> dict:
    """One scheduleInformation. Others in the tenant see free/busy only (Exchange's
    default calendar sharing); the caller's own schedule shows subjects and locations."""
    own = owner.pk == call.mailbox.pk
    busy = []
    items = []
    events = _in_window(
        CalendarEvent.objects.filter(mailbox=owner, removed_at__isnull=True).exclude(
            status=CalendarEvent.Status.CANCELLED
        ),
        start,
        end,
    ).order_by("start", "pk")
    for event in events:
        status = shapes.show_as(event, owner)
        if status == "free":
            continue
        busy.append((event.start, event.end, status))
        item = {
            "isPrivate": False,
            "status": status,
            "start": shapes.date_time_zone(event.start, zone_name),
            "end": shapes.date_time_zone(event.end, zone_name),
        }
        if own:
            item |= {"subject": event.summary, "location": event.location}
        items.append(item)
    return {
        "scheduleId": owner.address,
        "availabilityView": _availability_view(busy, start, end, minutes),
        "scheduleItems": items,
        "workingHours": {
            "daysOfWeek": WORK_DAYS,
            "startTime": WORK_START,
            "endTime": WORK_END,
            "timeZone": {"name": "UTC"},
        },
    }


@route("POST", "me/calendar/getSchedule", "graph.calendar.getSchedule")
@route("POST", "me/calendar/microsoft.graph.getSchedule", "graph.calendar.getSchedule")
def get_schedule(call: Call) -> GraphResponse:
    body = _json_body(call)
    addresses = body.get("schedules")
    if not isinstance(addresses, list) or not addresses:
        raise errors.bad_request("Schedules is required.", code="ErrorInvalidParameter")
    if len(addresses) > MAX_SCHEDULES:
        raise errors.bad_request(
            f"The number of schedules can't exceed {MAX_SCHEDULES}.", code="ErrorInvalidParameter"
        )
    start, zone_name = shapes.parse_date_time_zone(body.get("startTime"), "StartTime")
    end, _ = shapes.parse_date_time_zone(body.get("endTime"), "EndTime")
    if end <= start or end - start > timedelta(days=MAX_SCHEDULE_DAYS):
        raise errors.bad_request(
            f"The time window must end after it starts and span at most {MAX_SCHEDULE_DAYS} days.",
            code="ErrorInvalidParameter",
        )
    minutes = int(body.get("availabilityViewInterval") or 30)
    if not 5 <= minutes <= 1440:
        raise errors.bad_request(
            "AvailabilityViewInterval must be between 5 and 1440 minutes.",
            code="ErrorInvalidParameter",
        )
    tenant_mailboxes = {
        m.address.lower(): m
        for m in Mailbox.objects.filter(
            provider=Provider.MICROSOFT,
            tenant=call.mailbox.tenant,
            address__in=[str(a).lower() for a in addresses],
        )
    }
    value = [
        _schedule(call, tenant_mailboxes[str(a).lower()], start, end, zone_name, minutes)
        if str(a).lower() in tenant_mailboxes
        else _schedule_error(str(a))
        for a in addresses
    ]
    context = f"{call.request.root_url}/$metadata#Collection(microsoft.graph.scheduleInformation)"
    return GraphResponse(200, {"@odata.context": context, "value": value})


# --- The meeting page --------------------------------------------------------------------


def teams_meeting(request: HttpRequest, meeting: str) -> HttpResponse:
    """What a Teams join URL opens on the sandbox: which meeting it is, nothing more."""
    found = re.search(r"meeting_([0-9a-f]+)", meeting)
    event = (
        CalendarEvent.objects.filter(conference__id=found.group(1)).order_by("pk").first()
        if found
        else None
    )
    if event is None:
        return HttpResponse(
            "No such Teams meeting in the sandbox.", status=404, content_type="text/plain"
        )
    text = (
        f"Sandbox Teams meeting: {event.summary or '(no title)'}\n"
        f"Organizer: {event.organizer_email}\n"
        f"From {event.start:%Y-%m-%d %H:%M} to {event.end:%Y-%m-%d %H:%M} UTC\n"
        + (
            "This meeting was cancelled.\n"
            if event.status == CalendarEvent.Status.CANCELLED
            else ""
        )
    )
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
