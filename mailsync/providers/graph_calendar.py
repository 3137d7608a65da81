"""Microsoft Graph calendar on the shared Graph plumbing (mailsync.providers.graph's
GraphClient: O365's Connection on the configured hosts, the connection's MSAL token
cache, retries and error translation).

Our events carry two single-value extended properties in our own property set: MARKER_ID
="1", the same on every event of ours, which `GET /me/events?$filter=
singleValueExtendedProperties/any(ep: ep/id eq … and ep/value eq '1')` lists by (Graph's
documented filter compares an id and a value), and TAG_ID, the interview's own tag, read
back with `$expand`. calendarView delta takes no $filter, so changes are found by listing
every tagged event: one that is missing was deleted."""

import html
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

from mailsync.providers.base import NotFound, TokenStore
from mailsync.providers.calendar import (
    ACCEPTED,
    DECLINED,
    NEEDS_ACTION,
    TENTATIVE,
    Attendee,
    Availability,
    CalendarEvent,
    CalendarSession,
    EventDraft,
    WorkingHours,
)
from mailsync.providers.graph import GraphClient
from mailsync.providers.http import pages

# Threadline's MAPI property set (a GUID of our own, fixed forever: events carry it).
PROPERTY_SET = "{6f1c2a8e-3b7d-4c59-9e0a-7d4b2f81c3a5}"
MARKER_ID = f"String {PROPERTY_SET} Name threadline"
TAG_ID = f"String {PROPERTY_SET} Name threadlineInterview"
EVENT_SELECT = "id,iCalUId,subject,start,end,isCancelled,onlineMeeting,attendees"
TAG_EXPAND = f"singleValueExtendedProperties($filter=id eq '{TAG_ID}')"
MARKER_FILTER = f"singleValueExtendedProperties/any(ep: ep/id eq '{MARKER_ID}' and ep/value eq '1')"
RESPONSES = {
    "none": NEEDS_ACTION,
    "notResponded": NEEDS_ACTION,
    "accepted": ACCEPTED,
    "organizer": ACCEPTED,
    "tentativelyAccepted": TENTATIVE,
    "declined": DECLINED,
}
# What holds a person's time: busy, away and tentatively held. Free time and working
# elsewhere (still reachable) do not.
BLOCKING = {"busy", "oof", "tentative"}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MAX_SCHEDULES = 100  # getSchedule's limit per call
AVAILABILITY_INTERVAL_MINUTES = 30
# Times come back in UTC whatever zone an event was written in.
UTC_PREFERENCE = {"Prefer": 'outlook.timezone="UTC"'}
PAGE_TOP = 100


def _windows_zone(name: str) -> str:
    """The Windows name Graph knows for an IANA zone (Graph takes Windows names, and IANA
    names only from a short list); the name itself where there is none."""
    return tz_win.get(name, name)


def _iana_zone(name: str) -> str:
    """An IANA name for what Graph reports (mostly Windows names)."""
    candidate = win_tz.get(name, name)
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return candidate


def _instant(value: dict[str, Any] | None) -> datetime:
    """A dateTimeTimeZone as UTC (Graph prints seven fractional digits)."""
    if not value or not value.get("dateTime"):
        return datetime.min.replace(tzinfo=UTC)
    text = str(value["dateTime"]).rstrip("Z")
    head, dot, fraction = text.partition(".")
    parsed = datetime.fromisoformat(f"{head}.{fraction[:6]}" if dot else head)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(_iana_zone(str(value.get("timeZone") or "UTC"))))
    return parsed.astimezone(UTC)


def _date_time_zone(moment: datetime, time_zone: str) -> dict[str, str]:
    local = moment.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": _windows_zone(time_zone)}


def _clock(value: str) -> time:
    head = value.partition(".")[0]
    return time.fromisoformat(head)


def _working_hours(value: dict[str, Any] | None) -> WorkingHours | None:
    if not value or not value.get("daysOfWeek"):
        return None
    try:
        return WorkingHours(
            days=frozenset(
                WEEKDAYS.index(day.lower()) + 1
                for day in value["daysOfWeek"]
                if day.lower() in WEEKDAYS
            ),
            start=_clock(value["startTime"]),
            end=_clock(value["endTime"]),
            time_zone=_iana_zone(str((value.get("timeZone") or {}).get("name") or "UTC")),
        )
    except (KeyError, ValueError):
        return None


def calendar_event(event: dict[str, Any], *, tag: str = "") -> CalendarEvent:
    properties = {
        p.get("id", "").lower(): p.get("value", "")
        for p in event.get("singleValueExtendedProperties") or []
    }
    return CalendarEvent(
        event_id=event["id"],
        ical_uid=event.get("iCalUId", ""),
        tag=properties.get(TAG_ID.lower(), tag),
        title=event.get("subject") or "",
        start=_instant(event.get("start")),
        end=_instant(event.get("end")),
        meeting_url=str((event.get("onlineMeeting") or {}).get("joinUrl") or ""),
        cancelled=bool(event.get("isCancelled")),
        attendees=[
            Attendee(
                email=str((a.get("emailAddress") or {}).get("address") or "").lower(),
                name=str((a.get("emailAddress") or {}).get("name") or ""),
                response=RESPONSES.get((a.get("status") or {}).get("response", ""), NEEDS_ACTION),
            )
            for a in event.get("attendees") or []
        ],
    )


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _event_body(draft: EventDraft) -> dict[str, Any]:
    return {
        "subject": draft.title,
        "body": {"contentType": "HTML", "content": _html(draft.description)},
        "start": _date_time_zone(draft.start, draft.time_zone),
        "end": _date_time_zone(draft.end, draft.time_zone),
        "attendees": [
            {"emailAddress": {"address": a.email, "name": a.name or a.email}, "type": "required"}
            for a in draft.attendees
        ],
    }


def _query(**options: str) -> str:
    return "&".join(f"${name}={quote(value, safe=',()=/:$')}" for name, value in options.items())


class GraphCalendarSession(CalendarSession):
    # Graph lists our events by the extended property only (no change-time filter).
    reads_all_tagged_events = True

    def __init__(self, credentials: dict[str, Any], *, store: TokenStore | None) -> None:
        self._graph = GraphClient(credentials, store=store)

    def availability(
        self, addresses: list[str], start: datetime, end: datetime, *, time_zone: str
    ) -> dict[str, Availability]:
        wanted = list(dict.fromkeys(addresses))
        found: dict[str, Availability] = {}
        for first in range(0, len(wanted), MAX_SCHEDULES):
            chunk = wanted[first : first + MAX_SCHEDULES]
            body = {
                "schedules": chunk,
                "startTime": _date_time_zone(start, "UTC"),
                "endTime": _date_time_zone(end, "UTC"),
                "availabilityViewInterval": AVAILABILITY_INTERVAL_MINUTES,
            }
            answer = self._graph.request(
                "post",
                "me/calendar/getSchedule",
                what="calendar.getSchedule",
                data=body,
                headers=UTC_PREFERENCE,
            ).json()
            schedules = {str(s.get("scheduleId", "")).lower(): s for s in answer.get("value", [])}
            for address in chunk:
                schedule = schedules.get(address.lower())
                if schedule is None:
                    found[address] = Availability(busy=[], error="notFound")
                    continue
                error = schedule.get("error") or {}
                found[address] = Availability(
                    busy=[
                        (_instant(item.get("start")), _instant(item.get("end")))
                        for item in schedule.get("scheduleItems") or []
                        if item.get("status") in BLOCKING
                    ],
                    working_hours=_working_hours(schedule.get("workingHours")),
                    error=str(error.get("responseCode") or error.get("message") or "")
                    if error
                    else "",
                )
        return found

    def _event_url(self, path: str) -> str:
        return f"{path}?{_query(select=EVENT_SELECT, expand=TAG_EXPAND)}"

    def event_create(self, draft: EventDraft) -> CalendarEvent:
        body = {
            **_event_body(draft),
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
            # Graph's guard against a retried create making a second event.
            "transactionId": draft.tag,
            "singleValueExtendedProperties": [
                {"id": MARKER_ID, "value": "1"},
                {"id": TAG_ID, "value": draft.tag},
            ],
        }
        created = self._graph.request(
            "post",
            self._event_url("me/events"),
            what="events.create",
            data=body,
            headers=UTC_PREFERENCE,
        ).json()
        return calendar_event(created, tag=draft.tag)

    def event_update(self, event_id: str, draft: EventDraft) -> CalendarEvent:
        updated = self._graph.request(
            "patch",
            self._event_url(f"me/events/{quote(event_id, safe='')}"),
            what="events.update",
            data=_event_body(draft),
            headers=UTC_PREFERENCE,
        ).json()
        return calendar_event(updated, tag=draft.tag)

    def event_cancel(self, event_id: str, *, message: str = "") -> None:
        try:
            self._graph.request(
                "post",
                f"me/events/{quote(event_id, safe='')}/cancel",
                what="events.cancel",
                data={"comment": message},
            )
        except NotFound:
            return  # already gone

    def tagged_events(self, *, changed_since: datetime | None) -> list[CalendarEvent]:
        """Every event with our marker, whatever `changed_since` says: a full read is what
        tells a deleted event (missing) from an unchanged one."""
        first = "me/events?" + _query(
            filter=MARKER_FILTER, select=EVENT_SELECT, expand=TAG_EXPAND, top=str(PAGE_TOP)
        )
        return [
            calendar_event(item)
            for page in pages(
                lambda link: self._graph.request(
                    "get", link or first, what="events.list", headers=UTC_PREFERENCE
                ).json(),
                "@odata.nextLink",
            )
            for item in page.get("value", [])
        ]
