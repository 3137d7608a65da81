"""Google Calendar API v3 through google-api-python-client, on the shared Google plumbing
(mailsync.providers.google_api: the shipped discovery document with our root, the
connection's tokens, retries and error translation).

Our events carry two private extended properties: THREADLINE_MARKER="1", the same on
every event of ours, which is what `events.list(privateExtendedProperty=...)` filters on
(it matches a name and an exact value), and TAG_PROPERTY, the interview's own tag."""

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from googleapiclient.http import HttpRequest

from mailsync.providers.base import NotFound, ProviderError, TokenStore
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
)
from mailsync.providers.google_api import GoogleClient
from mailsync.providers.http import pages

THREADLINE_MARKER = "threadline"
TAG_PROPERTY = "threadlineInterview"
MARKER_FILTER = f"{THREADLINE_MARKER}=1"
RESPONSES = {
    "needsAction": NEEDS_ACTION,
    "accepted": ACCEPTED,
    "tentative": TENTATIVE,
    "declined": DECLINED,
}
# What CalendarEvent needs, and no more (Google's partial responses).
EVENT_FIELDS = (
    "id,iCalUID,status,summary,start,end,hangoutLink,"
    "conferenceData/entryPoints(entryPointType,uri),"
    "attendees(email,displayName,responseStatus),extendedProperties/private"
)
LIST_FIELDS = f"items({EVENT_FIELDS}),nextPageToken"
FREEBUSY_FIELDS = "calendars"
FREEBUSY_MAX_CALENDARS = 50  # Google's limit per freeBusy.query
# Deleted events are only guaranteed to carry their id: no times to report.
UNKNOWN_TIME = datetime.min.replace(tzinfo=UTC)


def event_id_for(tag: str) -> str:
    """The event id we ask Google to use (base32hex, as event ids must be): the same tag
    always gives the same id, so a retried insert answers 409 instead of a second event."""
    digest = hashlib.sha256(f"threadline:{tag}".encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _event_time(value: dict[str, Any] | None) -> datetime:
    if not value:
        return UNKNOWN_TIME
    if value.get("dateTime"):
        return _instant(value["dateTime"])
    return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)


def _meeting_url(event: dict[str, Any]) -> str:
    if event.get("hangoutLink"):
        return str(event["hangoutLink"])
    for entry in (event.get("conferenceData") or {}).get("entryPoints") or []:
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return str(entry["uri"])
    return ""


def calendar_event(event: dict[str, Any]) -> CalendarEvent:
    private = (event.get("extendedProperties") or {}).get("private") or {}
    return CalendarEvent(
        event_id=event["id"],
        ical_uid=event.get("iCalUID", ""),
        tag=private.get(TAG_PROPERTY, ""),
        title=event.get("summary", ""),
        start=_event_time(event.get("start")),
        end=_event_time(event.get("end")),
        meeting_url=_meeting_url(event),
        cancelled=event.get("status") == "cancelled",
        attendees=[
            Attendee(
                email=str(a.get("email", "")).lower(),
                name=a.get("displayName", ""),
                response=RESPONSES.get(a.get("responseStatus", ""), NEEDS_ACTION),
            )
            for a in event.get("attendees") or []
        ],
    )


def _when(moment: datetime, time_zone: str) -> dict[str, str]:
    return {"dateTime": moment.isoformat(), "timeZone": time_zone}


def _event_body(draft: EventDraft) -> dict[str, Any]:
    return {
        "summary": draft.title,
        "description": draft.description,
        "start": _when(draft.start, draft.time_zone),
        "end": _when(draft.end, draft.time_zone),
        "attendees": [
            {"email": a.email, **({"displayName": a.name} if a.name else {})}
            for a in draft.attendees
        ],
        "extendedProperties": {"private": {THREADLINE_MARKER: "1", TAG_PROPERTY: draft.tag}},
    }


class GoogleCalendarSession(CalendarSession):
    def __init__(self, credentials: dict[str, Any], *, store: TokenStore | None) -> None:
        self._google = GoogleClient("calendar.v3.json", credentials, store=store)
        self._events = self._google.service.events()

    def _execute(self, request: HttpRequest, *, what: str) -> dict[str, Any]:
        return self._google.execute(request, what=what)

    def availability(
        self, addresses: list[str], start: datetime, end: datetime, *, time_zone: str
    ) -> dict[str, Availability]:
        wanted = list(dict.fromkeys(addresses))
        found: dict[str, Availability] = {}
        for first in range(0, len(wanted), FREEBUSY_MAX_CALENDARS):
            chunk = wanted[first : first + FREEBUSY_MAX_CALENDARS]
            body = {
                "timeMin": start.astimezone(UTC).isoformat(),
                "timeMax": end.astimezone(UTC).isoformat(),
                "timeZone": time_zone,
                "items": [{"id": address} for address in chunk],
            }
            answer = self._execute(
                self._google.service.freebusy().query(body=body, fields=FREEBUSY_FIELDS),
                what="freebusy.query",
            )
            calendars = {key.lower(): value for key, value in answer.get("calendars", {}).items()}
            for address in chunk:
                calendar = calendars.get(address.lower())
                if calendar is None:
                    found[address] = Availability(busy=[], error="notFound")
                    continue
                errors = [str(e.get("reason", "")) for e in calendar.get("errors") or []]
                found[address] = Availability(
                    busy=[(_instant(b["start"]), _instant(b["end"])) for b in calendar["busy"]],
                    error=",".join(errors),
                )
        return found

    def event_create(self, draft: EventDraft) -> CalendarEvent:
        event_id = event_id_for(draft.tag)
        body = {
            **_event_body(draft),
            "id": event_id,
            "conferenceData": {
                "createRequest": {
                    "requestId": draft.tag,
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            },
        }
        request = self._events.insert(
            calendarId="primary",
            body=body,
            conferenceDataVersion=1,
            sendUpdates="all",
            fields=EVENT_FIELDS,
        )
        try:
            return calendar_event(self._execute(request, what="events.insert"))
        except ProviderError as error:
            if error.status != 409:
                raise
        # Our id is taken: an earlier attempt went through before its answer was lost.
        existing = calendar_event(
            self._execute(
                self._events.get(calendarId="primary", eventId=event_id, fields=EVENT_FIELDS),
                what="events.get",
            )
        )
        if existing.cancelled or existing.tag != draft.tag:
            # A tag names one event for good (Interview.tag is unique): never revive one.
            raise ProviderError(
                f"An event with tag {draft.tag!r} existed already and was deleted.",
                permanent=True,
                status=409,
                reason="duplicate",
            )
        return existing

    def event_update(self, event_id: str, draft: EventDraft) -> CalendarEvent:
        request = self._events.patch(
            calendarId="primary",
            eventId=event_id,
            body=_event_body(draft),
            conferenceDataVersion=1,
            sendUpdates="all",
            fields=EVENT_FIELDS,
        )
        return calendar_event(self._execute(request, what="events.patch"))

    def event_cancel(self, event_id: str, *, message: str = "") -> None:
        # Google's cancellation notice carries no message of ours.
        request = self._events.delete(calendarId="primary", eventId=event_id, sendUpdates="all")
        try:
            self._execute(request, what="events.delete")
        except NotFound:
            return
        except ProviderError as error:
            if error.status != 410:  # deleted already
                raise

    def tagged_events(self, *, changed_since: datetime | None) -> list[CalendarEvent]:
        """Only events with our marker: every list call carries the filter, so no other
        event is ever sent to us. Deleted ones come with their id alone (cancelled)."""

        def fetch(page_token: str | None) -> dict[str, Any]:
            since = (
                {"updatedMin": changed_since.astimezone(UTC).isoformat()} if changed_since else {}
            )
            return self._execute(
                self._events.list(
                    calendarId="primary",
                    privateExtendedProperty=MARKER_FILTER,
                    showDeleted=True,
                    singleEvents=False,
                    maxResults=250,
                    pageToken=page_token,
                    fields=LIST_FIELDS,
                    **since,
                ),
                what="events.list",
            )

        return [
            calendar_event(item)
            for page in pages(fetch, "nextPageToken")
            for item in page.get("items", [])
        ]
