"""Google Calendar API v3 operations (registered with `api.route`, so they are
authenticated, scope-checked, quota-charged and logged like Gmail's): events insert, get,
patch, delete and list (private extended properties, time bounds, paging, sync tokens)
and freeBusy.query. Shapes follow Google's Calendar discovery document.

A sandbox user's calendar is their mailbox: `calendarId` is "primary" or its address.
"""

import json
import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import ids, selectors, services
from sandbox.google.api import Call, process, route
from sandbox.google.errors import GmailError
from sandbox.google.gmail_views import api_request_from, to_http
from sandbox.models import CalendarEvent, Mailbox, Provider
from sandbox.requestlog import log_write

EVENTS = "calendar/v3/calendars/{calendarId}/events"
DEFAULT_PAGE, MAX_PAGE = 250, 2500
FREEBUSY_MAX_CALENDARS = 50
# Parameters Google refuses alongside a syncToken (the discovery document's list).
NOT_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
MEET_ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png"
)
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_SYNC_PREFIX = "CPD"


# --- Errors, in the Calendar API's words ---------------------------------------------------


def _bad_request(message: str, reason: str = "invalid", location: str = "") -> GmailError:
    extra = {"locationType": "parameter", "location": location} if location else {}
    return GmailError(400, message, reason, extra_item=extra)


def _not_found() -> GmailError:
    return GmailError(404, "Not Found", "notFound")


def _full_sync_required() -> GmailError:
    return GmailError(
        410,
        "Sync token is no longer valid, a full sync is required.",
        "fullSyncRequired",
        extra_item={"locationType": "parameter", "location": "syncToken"},
    )


# --- Parsing -------------------------------------------------------------------------------


def _json_body(call: Call) -> dict[str, Any]:
    if not call.request.body:
        return {}
    try:
        body = json.loads(call.request.body)
    except ValueError as error:
        raise _bad_request("Parse Error", "parseError") from error
    if not isinstance(body, dict):
        raise _bad_request("Parse Error", "parseError")
    return body


def _calendar(call: Call) -> Mailbox:
    """The calendar a path names: the caller's own ("primary" or its address). Other
    users' calendars are not shared with anyone in the sandbox, so they are not found."""
    wanted = call.params["calendarId"].lower()
    if wanted in ("primary", call.mailbox.address):
        return call.mailbox
    raise _not_found()


def _rfc3339(value: str, name: str) -> datetime:
    """A timestamp with its mandatory offset (Z or ±hh:mm), as the list parameters take."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _bad_request("Bad Request", "badRequest", name)
    return parsed


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise _bad_request(
            f"Invalid time zone definition for {name}.", "timeZoneInvalid"
        ) from error


def _when(value: Any, which: str) -> tuple[datetime, str, bool]:
    """An EventDateTime → (instant, time zone, all-day)."""
    if not isinstance(value, dict) or not (value.get("dateTime") or value.get("date")):
        raise _bad_request(f"Missing {which} time.", "required")
    zone_name = str(value.get("timeZone") or "")
    if value.get("date"):
        try:
            day = date.fromisoformat(str(value["date"]))
        except ValueError as error:
            raise _bad_request(f"Invalid {which} time.", "invalid") from error
        return datetime.combine(day, time(), tzinfo=UTC), zone_name or "UTC", True
    try:
        instant = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    except ValueError as error:
        raise _bad_request(f"Invalid {which} time.", "invalid") from error
    if instant.tzinfo is None:
        if not zone_name:
            raise _bad_request(f"Missing time zone definition for {which} time.", "required")
        instant = instant.replace(tzinfo=_zone(zone_name))
    elif zone_name:
        _zone(zone_name)
    return instant.astimezone(UTC), zone_name or "UTC", False


def _attendees(value: Any, organizer: str, earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad_request("Invalid attendees.", "invalid")
    answered = {str(a.get("email", "")).lower(): a.get("responseStatus") for a in earlier}
    attendees = []
    for item in value:
        email = str(item.get("email", "")).strip().lower() if isinstance(item, dict) else ""
        if "@" not in email:
            raise _bad_request("Invalid attendee email.", "invalid")
        response = item.get("responseStatus") or answered.get(email) or "needsAction"
        if email == organizer:
            response = item.get("responseStatus") or answered.get(email) or "accepted"
        attendee: dict[str, Any] = {"email": email, "responseStatus": response}
        for key in ("displayName", "optional", "comment"):
            if key in item:
                attendee[key] = item[key]
        attendees.append(attendee)
    return attendees


def _conference(call: Call, value: Any) -> dict[str, Any]:
    """A conference from `conferenceData` (version 1 only; version 0 ignores it)."""
    if call.query.get("conferenceDataVersion", "0") != "1" or not isinstance(value, dict):
        return {}
    create = value.get("createRequest")
    if isinstance(create, dict):
        kind = str((create.get("conferenceSolutionKey") or {}).get("type", ""))
        if kind != "hangoutsMeet":
            raise _bad_request("Invalid conference type value.", "invalid")
        code = ids.google_meet_code()
        return {
            "kind": kind,
            "id": code,
            "url": f"https://meet.google.com/{code}",
            "requestId": str(create.get("requestId", "")),
        }
    entry = next(iter(value.get("entryPoints") or []), None)
    if isinstance(entry, dict) and entry.get("uri"):
        # A conference copied from another event keeps its link.
        kind = str(((value.get("conferenceSolution") or {}).get("key") or {}).get("type", ""))
        return {"kind": kind, "id": str(value.get("conferenceId", "")), "url": entry["uri"]}
    return {}


def _event_fields(call: Call, body: dict[str, Any], event: CalendarEvent | None) -> dict[str, Any]:
    """CalendarEvent fields from an Event body: all of them on insert, those present on
    patch (extendedProperties.private merges key by key, as patch semantics say)."""
    organizer = event.organizer_email if event else call.mailbox.address
    changes: dict[str, Any] = {}
    for key in ("summary", "description", "location"):
        if key in body:
            changes[key] = str(body[key] or "")
    if event is None or "start" in body or "end" in body:
        start_value = body.get("start", _event_time(event, "start") if event else None)
        end_value = body.get("end", _event_time(event, "end") if event else None)
        start, zone, all_day = _when(start_value, "start")
        end, _, end_all_day = _when(end_value, "end")
        if all_day != end_all_day:
            raise _bad_request("Start and end times must either both be date or both be dateTime.")
        if end < start:
            raise _bad_request("The specified time range is empty.", "timeRangeEmpty")
        changes.update(start=start, end=end, time_zone=zone, all_day=all_day)
    if "attendees" in body:
        changes["attendees"] = _attendees(
            body["attendees"] or [], organizer, event.attendees if event else []
        )
    if "transparency" in body:
        changes["transparent"] = body["transparency"] == "transparent"
    if "status" in body and body["status"] in CalendarEvent.Status.values:
        changes["status"] = body["status"]
    private = (body.get("extendedProperties") or {}).get("private")
    if isinstance(private, dict):
        merged = dict(event.private_properties) if event else {}
        merged.update({str(k): str(v) for k, v in private.items() if v is not None})
        for key in [k for k, v in private.items() if v is None]:
            merged.pop(key, None)
        changes["private_properties"] = merged
    if "conferenceData" in body:
        conference = _conference(call, body["conferenceData"])
        if conference or body["conferenceData"] is None:
            changes["conference"] = conference
    return changes


def _event_time(event: CalendarEvent, which: str) -> dict[str, str]:
    return _datetime_resource(event, getattr(event, which))


def _send_updates(call: Call) -> str:
    value = call.query.get("sendUpdates", "")
    if not value and call.query.get("sendNotifications", "").lower() == "true":
        return "all"
    if value and value not in ("all", "externalOnly", "none"):
        raise _bad_request(f"Invalid value for sendUpdates: {value}", location="sendUpdates")
    return value or "none"


# --- Representation ------------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _local(moment: datetime, zone_name: str) -> str:
    """RFC 3339 in a time zone, with its offset ("Z" in UTC), as Google writes times."""
    local = moment.astimezone(_zone(zone_name) if zone_name else UTC)
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _datetime_resource(event: CalendarEvent, moment: datetime) -> dict[str, str]:
    if event.all_day:
        return {"date": moment.astimezone(UTC).date().isoformat()}
    return {"dateTime": _local(moment, event.time_zone), "timeZone": event.time_zone}


def _person(address: str, calendar: Mailbox) -> dict[str, Any]:
    person: dict[str, Any] = {"email": address}
    if address == calendar.address:
        person["self"] = True
    return person


def _conference_resource(conference: dict[str, Any]) -> dict[str, Any]:
    code, url = conference.get("id", ""), conference.get("url", "")
    resource: dict[str, Any] = {
        "entryPoints": [
            {"entryPointType": "video", "uri": url, "label": url.removeprefix("https://")}
        ],
        "conferenceSolution": {
            "key": {"type": conference.get("kind", "hangoutsMeet")},
            "name": "Google Meet",
            "iconUri": MEET_ICON,
        },
        "conferenceId": code,
    }
    if conference.get("requestId"):
        resource["createRequest"] = {
            "requestId": conference["requestId"],
            "conferenceSolutionKey": {"type": conference.get("kind", "hangoutsMeet")},
            "status": {"statusCode": "success"},
        }
    return resource


def event_resource(event: CalendarEvent, calendar: Mailbox) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": f'"{event.changed_seq}{event.sequence:04d}"',
        "id": event.provider_id,
        "status": event.status,
        "htmlLink": "https://www.google.com/calendar/event?eid="
        + ids.b64_text(f"{event.provider_id} {calendar.address}"),
        "created": _timestamp(event.created_at),
        "updated": _timestamp(event.updated_at),
    }
    for key in ("summary", "description", "location"):
        if getattr(event, key):
            resource[key] = getattr(event, key)
    organizer = event.organizer_email or calendar.address
    resource["creator"] = _person(organizer, calendar)
    resource["organizer"] = _person(organizer, calendar)
    resource["start"] = _datetime_resource(event, event.start)
    resource["end"] = _datetime_resource(event, event.end)
    if event.transparent:
        resource["transparency"] = "transparent"
    resource["iCalUID"] = event.ical_uid
    resource["sequence"] = event.sequence
    if event.attendees:
        attendees = []
        for attendee in event.attendees:
            shown = dict(attendee)
            if shown.get("email") == organizer:
                shown["organizer"] = True
            if shown.get("email") == calendar.address:
                shown["self"] = True
            attendees.append(shown)
        resource["attendees"] = attendees
    # Private properties belong to this copy of the event only.
    if event.private_properties:
        resource["extendedProperties"] = {"private": dict(event.private_properties)}
    if event.conference:
        if event.conference.get("kind") == "hangoutsMeet":
            resource["hangoutLink"] = event.conference.get("url", "")
        resource["conferenceData"] = _conference_resource(event.conference)
    resource["reminders"] = {"useDefault": True}
    resource["eventType"] = "default"
    return resource


def _listed_resource(event: CalendarEvent, calendar: Mailbox) -> dict[str, Any]:
    # "Deleted events are only guaranteed to have the id field populated."
    if event.status == CalendarEvent.Status.CANCELLED:
        return {
            "kind": "calendar#event",
            "etag": f'"{event.changed_seq}{event.sequence:04d}"',
            "id": event.provider_id,
            "status": event.status,
        }
    return event_resource(event, calendar)


# --- Events --------------------------------------------------------------------------------


def _check_insert(call: Call) -> None:
    _calendar(call)
    _send_updates(call)


@route("POST", EVENTS, "calendar.events.insert", precheck=_check_insert)
def events_insert(call: Call) -> dict[str, Any]:
    calendar = _calendar(call)
    body = _json_body(call)
    if body.get("recurrence"):
        # Refused rather than quietly stored as a single event.
        raise _bad_request("The sandbox does not emulate recurring events.", "invalid")
    provider_id = str(body.get("id") or "")
    if provider_id and not _EVENT_ID.match(provider_id):
        raise _bad_request("Invalid resource id value.", "invalid")
    fields = _event_fields(call, body, None)
    fields.setdefault("attendees", [])
    if body.get("iCalUID"):
        fields["ical_uid"] = str(body["iCalUID"])
    try:
        event = services.calendar_event_create(
            mailbox=calendar,
            fields=fields,
            provider_id=provider_id,
            send_updates=_send_updates(call),
        )
    except services.SandboxError as error:
        if error.kind == "conflict":
            raise GmailError(
                409, "The requested identifier already exists.", "duplicate"
            ) from error
        raise
    return event_resource(event, calendar)


@route("GET", EVENTS + "/{eventId}", "calendar.events.get")
def events_get(call: Call) -> dict[str, Any]:
    calendar = _calendar(call)
    event = selectors.calendar_event_get(mailbox=calendar, provider_id=call.params["eventId"])
    return event_resource(event, calendar)


@route("PATCH", EVENTS + "/{eventId}", "calendar.events.patch", precheck=_check_insert)
def events_patch(call: Call) -> dict[str, Any]:
    calendar = _calendar(call)
    event = selectors.calendar_event_get(mailbox=calendar, provider_id=call.params["eventId"])
    changes = _event_fields(call, _json_body(call), event)
    event = services.calendar_event_update(
        event=event, changes=changes, send_updates=_send_updates(call)
    )
    return event_resource(event, calendar)


@route("DELETE", EVENTS + "/{eventId}", "calendar.events.delete", precheck=_check_insert)
def events_delete(call: Call) -> None:
    calendar = _calendar(call)
    event = selectors.calendar_event_get(mailbox=calendar, provider_id=call.params["eventId"])
    services.calendar_event_cancel(event=event, send_updates=_send_updates(call))


def _page_size(call: Call) -> int:
    value = call.query.get("maxResults", "")
    if not value:
        return DEFAULT_PAGE
    if not value.isdigit() or int(value) < 1:
        raise _bad_request(f"Invalid value for maxResults: {value}", location="maxResults")
    return min(int(value), MAX_PAGE)


def _sync_token(mailbox: Mailbox, position: int) -> str:
    return _SYNC_PREFIX + selectors.encode_token({"m": mailbox.pk, "s": position})


def _sync_position(mailbox: Mailbox, token: str) -> int:
    """Where a sync token stands in the calendar's changes; 410 when it is not one of
    this calendar's, or older than the changes the calendar still remembers."""
    try:
        payload = selectors.decode_token(token.removeprefix(_SYNC_PREFIX))
    except services.SandboxError as error:
        raise _full_sync_required() from error
    position = payload.get("s")
    if (
        not token.startswith(_SYNC_PREFIX)
        or payload.get("m") != mailbox.pk
        or not isinstance(position, int)
        or position < mailbox.history_floor
        or position > mailbox.history_id
    ):
        raise _full_sync_required()
    return position


def _private_filter(call: Call) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for constraint in call.query.getlist("privateExtendedProperty"):
        name, equals, value = constraint.partition("=")
        if not equals or not name:
            raise _bad_request(
                "Invalid extended property constraint.", location="privateExtendedProperty"
            )
        wanted[name] = value
    return wanted


def _check_list(call: Call) -> None:
    _calendar(call)
    query = call.query
    if query.get("syncToken"):
        clashing = [name for name in NOT_WITH_SYNC_TOKEN if name in query]
        if clashing:
            raise _bad_request(
                f"The parameter {clashing[0]} cannot be used together with syncToken.",
                location=clashing[0],
            )
        if query.get("showDeleted", "").lower() == "false":
            raise _bad_request(
                "showDeleted cannot be false together with syncToken.", location="showDeleted"
            )
    if query.get("orderBy") == "startTime" and query.get("singleEvents", "").lower() != "true":
        raise _bad_request(
            "The requested ordering is not available for the particular query.", location="orderBy"
        )
    if query.get("orderBy", "startTime") not in ("startTime", "updated"):
        raise _bad_request(f"Invalid value for orderBy: {query['orderBy']}", location="orderBy")
    _page_size(call)


@route("GET", EVENTS, "calendar.events.list", precheck=_check_list)
def events_list(call: Call) -> dict[str, Any]:
    calendar = _calendar(call)
    calendar.refresh_from_db(fields=["history_id", "history_floor"])
    query = call.query
    page_token = query.get("pageToken", "")
    position: int | None = None
    if page_token:
        cursor = selectors.decode_token(page_token)
        offset, snapshot = cursor.get("o"), cursor.get("s")
        if not isinstance(offset, int) or not isinstance(snapshot, int) or offset < 0:
            raise _bad_request("Invalid page token value.", location="pageToken")
    else:
        offset, snapshot = 0, calendar.history_id
    sync_token, lower, upper = (query.get(n, "") for n in ("syncToken", "timeMin", "timeMax"))
    if sync_token:
        position = _sync_position(calendar, sync_token)
    time_min = _rfc3339(lower, "timeMin") if lower else None
    time_max = _rfc3339(upper, "timeMax") if upper else None
    if time_min and time_max and time_min >= time_max:
        raise _bad_request("The specified time range is empty.", "timeRangeEmpty", "timeMax")
    events = selectors.calendar_events(
        mailbox=calendar,
        private_properties=_private_filter(call),
        time_min=time_min,
        time_max=time_max,
        # "When updatedMin is specified, entries deleted since this time will always be
        # included regardless of showDeleted."
        show_deleted=query.get("showDeleted", "").lower() == "true" or "updatedMin" in query,
        changed_after=position,
        ical_uid=query.get("iCalUID", ""),
    ).filter(changed_seq__lte=snapshot)
    search = query.get("q", "")
    if search:
        events = events.filter(
            Q(summary__icontains=search)
            | Q(description__icontains=search)
            | Q(location__icontains=search)
        )
    if query.getlist("sharedExtendedProperty"):
        # The sandbox keeps no shared properties, so no event has the one asked for.
        events = events.none()
    updated_min = query.get("updatedMin", "")
    if updated_min:
        events = events.filter(updated_at__gte=_rfc3339(updated_min, "updatedMin"))
    order = {"startTime": ("start", "pk"), "updated": ("updated_at", "pk")}
    events = events.order_by(*order.get(query.get("orderBy", ""), ("pk",)))
    size = _page_size(call)
    rows = list(events[offset : offset + size + 1])
    result: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": f'"{snapshot}"',
        "summary": calendar.address,
        "description": "",
        "updated": _timestamp(max((e.updated_at for e in rows), default=calendar.created_at)),
        "timeZone": "UTC",
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
    }
    if len(rows) > size:
        result["nextPageToken"] = selectors.encode_token({"o": offset + size, "s": snapshot})
        rows = rows[:size]
    else:
        # Only the last page carries the token for the next incremental sync.
        result["nextSyncToken"] = _sync_token(calendar, snapshot)
    result["items"] = [_listed_resource(event, calendar) for event in rows]
    return result


# --- Free/busy -----------------------------------------------------------------------------


def _visible_calendar(caller: Mailbox, wanted: str) -> Mailbox | None:
    """Whose free/busy the caller may see: their own, and that of users of their own
    Workspace domain (Google's default sharing inside an organisation)."""
    if wanted.lower() in ("primary", caller.address):
        return caller
    mailbox = selectors.mailbox_by_address(wanted)
    if mailbox is None or mailbox.provider != Provider.GOOGLE:
        return None
    same_domain = mailbox.address.rsplit("@", 1)[1] == caller.address.rsplit("@", 1)[1]
    return mailbox if same_domain else None


@route("POST", "calendar/v3/freeBusy", "calendar.freebusy.query")
def freebusy_query(call: Call) -> dict[str, Any]:
    body = _json_body(call)
    for name in ("timeMin", "timeMax"):
        if not body.get(name):
            raise _bad_request(f"Missing {name} parameter.", "required", name)
    time_min = _rfc3339(str(body["timeMin"]), "timeMin")
    time_max = _rfc3339(str(body["timeMax"]), "timeMax")
    if time_min >= time_max:
        raise _bad_request("The specified time range is empty.", "timeRangeEmpty", "timeMax")
    zone_name = str(body.get("timeZone") or "UTC")
    _zone(zone_name)
    items = body.get("items") or []
    calendars: dict[str, Any] = {}
    for number, item in enumerate(items):
        wanted = str(item.get("id", "")) if isinstance(item, dict) else ""
        if number >= FREEBUSY_MAX_CALENDARS:
            calendars[wanted] = {
                "errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}],
                "busy": [],
            }
            continue
        mailbox = _visible_calendar(call.mailbox, wanted)
        if mailbox is None:
            calendars[wanted] = {
                "errors": [{"domain": "global", "reason": "notFound"}],
                "busy": [],
            }
            continue
        periods = selectors.calendar_busy(mailbox=mailbox, time_min=time_min, time_max=time_max)
        calendars[wanted] = {
            "busy": [
                {"start": _local(start, zone_name), "end": _local(end, zone_name)}
                for start, end in periods
            ]
        }
    return {
        "kind": "calendar#freeBusy",
        "timeMin": _local(time_min, zone_name),
        "timeMax": _local(time_max, zone_name),
        "calendars": calendars,
    }


# --- HTTP entry point ----------------------------------------------------------------------


@csrf_exempt
def calendar_api(request: HttpRequest, rest: str) -> HttpResponse:
    response, entry = process(api_request_from(request, "calendar/v3/" + rest))
    log_write([entry])
    return to_http(response)
