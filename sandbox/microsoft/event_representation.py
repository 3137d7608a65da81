"""Graph's shapes for calendar events: dateTimeTimeZone values, the event resource and the
attendee vocabulary.

Events are stored with Google's attendee vocabulary (sandbox.models.CalendarEvent); Graph
names the same answers differently. Times are stored in UTC and served in the zone the
client prefers (`Prefer: outlook.timezone="..."`, UTC without it), as Outlook does. Graph
takes Windows zone names ("Pacific Standard Time") and IANA names alike.
"""

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.microsoft.errors import GraphError
from sandbox.models import CalendarEvent, Mailbox

GRAPH_TO_STORED = {
    "none": "needsAction",
    "notResponded": "needsAction",
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
}
STORED_TO_GRAPH = {
    "needsAction": "none",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentativelyAccepted",
}
# The Windows names Outlook uses most, with their IANA equivalents (CLDR windowsZones).
WINDOWS_ZONES = {
    "utc": "UTC",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau",
    "fle standard time": "Europe/Kyiv",
    "gtb standard time": "Europe/Bucharest",
    "russian standard time": "Europe/Moscow",
    "israel standard time": "Asia/Jerusalem",
    "arabian standard time": "Asia/Dubai",
    "india standard time": "Asia/Kolkata",
    "china standard time": "Asia/Shanghai",
    "singapore standard time": "Asia/Singapore",
    "tokyo standard time": "Asia/Tokyo",
    "aus eastern standard time": "Australia/Sydney",
    "new zealand standard time": "Pacific/Auckland",
    "hawaiian standard time": "Pacific/Honolulu",
    "alaskan standard time": "America/Anchorage",
    "pacific standard time": "America/Los_Angeles",
    "mountain standard time": "America/Denver",
    "us mountain standard time": "America/Phoenix",
    "central standard time": "America/Chicago",
    "eastern standard time": "America/New_York",
    "atlantic standard time": "America/Halifax",
    "e. south america standard time": "America/Sao_Paulo",
}
_PREFER_ZONE = re.compile(r'outlook\.timezone\s*=\s*"([^"]+)"', re.IGNORECASE)
GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f0"  # Graph prints seven fractional digits.


def zone(name: str) -> tzinfo:
    """The zone a Graph time-zone name means; an unknown one is Graph's 400."""
    cleaned = (name or "UTC").strip()
    iana = WINDOWS_ZONES.get(cleaned.lower(), cleaned)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{cleaned}'.",
        ) from error


def preferred_zone(prefer: str) -> str:
    found = _PREFER_ZONE.search(prefer)
    return found.group(1) if found else "UTC"


def parse_date_time_zone(value: object, field: str) -> tuple[datetime, str]:
    """A dateTimeTimeZone ({"dateTime": "2026-12-01T09:00:00", "timeZone": "..."}) as an
    aware UTC datetime and the zone name given."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise GraphError(400, "ErrorInvalidRequest", f"Property '{field}' is required.")
    name = str(value.get("timeZone") or "UTC")
    text = str(value["dateTime"]).rstrip("Z")
    # Graph writes up to seven fractional digits; Python reads six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise GraphError(
            400, "ErrorInvalidRequest", f"Cannot convert the literal '{text}' for {field}."
        ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(name))
    return parsed.astimezone(UTC), name


def date_time_zone(moment: datetime, zone_name: str) -> dict:
    local = moment.astimezone(zone(zone_name)).replace(tzinfo=None)
    return {"dateTime": local.strftime(GRAPH_TIME_FORMAT), "timeZone": zone_name}


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def is_organizer(event: CalendarEvent, mailbox: Mailbox) -> bool:
    return event.organizer_email.lower() == mailbox.address.lower()


def own_response(event: CalendarEvent, mailbox: Mailbox) -> str:
    """The calendar owner's answer, in Graph's words."""
    if is_organizer(event, mailbox):
        return "organizer"
    for attendee in event.attendees:
        if str(attendee.get("email", "")).lower() == mailbox.address.lower():
            return STORED_TO_GRAPH.get(attendee.get("responseStatus", ""), "none")
    return "none"


def show_as(event: CalendarEvent, mailbox: Mailbox) -> str:
    """busy, tentative or free, as Outlook shows the event in its owner's calendar: an
    invitation not yet accepted holds the time tentatively."""
    if event.transparent or event.status == CalendarEvent.Status.CANCELLED:
        return "free"
    response = own_response(event, mailbox)
    if response in ("none", "tentativelyAccepted"):
        return "tentative"
    if response == "declined":
        return "free"
    return "busy"


def _attendee(attendee: dict) -> dict:
    return {
        "type": "optional" if attendee.get("optional") else "required",
        "status": {
            "response": STORED_TO_GRAPH.get(attendee.get("responseStatus", ""), "none"),
            "time": attendee.get("responseTime") or "0001-01-01T00:00:00Z",
        },
        "emailAddress": {
            "name": attendee.get("displayName") or attendee.get("email", ""),
            "address": attendee.get("email", ""),
        },
    }


def extended_properties(event: CalendarEvent, wanted: list[str] | None) -> list[dict]:
    """The event's single-value extended properties whose ids are in `wanted` (compared
    case-insensitively, as Graph does), or all of them when `wanted` is None."""
    chosen = None if wanted is None else {w.lower() for w in wanted}
    return [
        {"id": key, "value": value}
        for key, value in event.private_properties.items()
        if chosen is None or key.lower() in chosen
    ]


def event_resource(
    event: CalendarEvent,
    mailbox: Mailbox,
    *,
    zone_name: str = "UTC",
    root_url: str = "",
    expand_properties: list[str] | None = None,
    expand_all_properties: bool = False,
) -> dict:
    """The Graph event resource of a row in `mailbox`'s calendar."""
    organizer = event.organizer_email
    organizer_name = next(
        (
            a.get("displayName")
            for a in event.attendees
            if str(a.get("email", "")).lower() == organizer.lower()
        ),
        None,
    ) or (mailbox.display_name if organizer.lower() == mailbox.address.lower() else organizer)
    conference = event.conference or {}
    online = conference.get("kind") == "teamsForBusiness"
    body = event.description
    resource: dict = {
        "@odata.etag": f'W/"{event.sequence}-{event.changed_seq}"',
        "id": event.provider_id,
        "createdDateTime": graph_time(event.created_at),
        "lastModifiedDateTime": graph_time(event.updated_at),
        "changeKey": f"{event.sequence}-{event.changed_seq}",
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": event.time_zone,
        "originalEndTimeZone": event.time_zone,
        "iCalUId": event.ical_uid,
        "uid": event.ical_uid,
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": event.summary,
        "bodyPreview": re.sub(r"<[^>]+>", "", body)[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": event.all_day,
        "isCancelled": event.status == CalendarEvent.Status.CANCELLED,
        "isOrganizer": is_organizer(event, mailbox),
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": show_as(event, mailbox),
        "type": "singleInstance",
        "webLink": f"{root_url.rsplit('/graph/', 1)[0]}/owa/?itemid={event.provider_id}",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": online,
        "onlineMeetingProvider": "teamsForBusiness" if online else "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {
            "response": own_response(event, mailbox),
            "time": "0001-01-01T00:00:00Z",
        },
        "body": {
            "contentType": "html" if body.lstrip().startswith("<") else "text",
            "content": body,
        },
        "start": date_time_zone(event.start, zone_name),
        "end": date_time_zone(event.end, zone_name),
        "location": {
            "displayName": event.location,
            "locationType": "default",
            "uniqueIdType": "unknown",
        },
        "locations": [{"displayName": event.location}] if event.location else [],
        "recurrence": None,
        "attendees": [
            _attendee(a)
            for a in event.attendees
            if str(a.get("email", "")).lower() != organizer.lower()
        ],
        "organizer": {"emailAddress": {"name": organizer_name, "address": organizer}},
        "onlineMeeting": {"joinUrl": conference.get("url")} if online else None,
    }
    if expand_all_properties or expand_properties is not None:
        found = extended_properties(event, None if expand_all_properties else expand_properties)
        # Graph leaves the navigation property out when the filter matched nothing.
        if found:
            resource["singleValueExtendedProperties"] = found
    return resource


def removed_event(identifier: str) -> dict:
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": identifier,
        "@removed": {"reason": "deleted"},
    }
