"""Writes to sandbox users' calendars as Exchange makes them for Graph: an organiser's
event, each invited sandbox user's own copy of it (same iCalUId), rescheduling and
cancelling that reach the copies, and attendees' answers that reach the organiser.

Attendee statuses are stored in Google's vocabulary (see CalendarEvent.attendees); the
Graph face translates (sandbox.microsoft.event_representation). Every change moves the
changed row to its mailbox's newest change position (`changed_seq`), which is what a
calendarView delta round reads.
"""

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from sandbox import ids
from sandbox.models import CalendarEvent, Mailbox
from sandbox.services import SandboxError, history_ids_allocate

RESPONSES = {"accept": "accepted", "decline": "declined", "tentativelyAccept": "tentative"}


@dataclass
class EventFields:
    """What a client may set on an event, already parsed (times in UTC)."""

    summary: str | None = None
    description: str | None = None
    location: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    time_zone: str | None = None
    # [{"email", "displayName", "optional"}]; None: unchanged.
    attendees: list[dict] | None = None
    teams_meeting: bool | None = None
    # Where Teams join URLs point (the sandbox's stand-in for teams.microsoft.com).
    teams_root: str = "https://teams.microsoft.com"
    transparent: bool | None = None
    properties: dict[str, str] = field(default_factory=dict)


def _teams_conference(teams_root: str) -> dict:
    """A Teams meeting. Its join URL has teams.microsoft.com's shape but lives under
    `teams_root` on the sandbox, whose page stands in for the meeting."""
    meeting = secrets.token_hex(16)
    thread = f"19%3ameeting_{meeting}%40thread.v2"
    return {
        "kind": "teamsForBusiness",
        "id": meeting,
        "url": f"{teams_root}/l/meetup-join/{thread}/0?context=%7b%22Tid%22%3a%22{meeting}%22%7d",
    }


def _ical_uid() -> str:
    # Exchange's global object id: a fixed class id, then a per-meeting part.
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()


def _touch(event: CalendarEvent, *, mailbox: Mailbox) -> None:
    event.changed_seq = history_ids_allocate(mailbox, 1)
    event.updated_at = timezone.now()


def _attendee_mailboxes(event: CalendarEvent) -> dict[str, Mailbox]:
    addresses = [
        str(a["email"]).lower()
        for a in event.attendees
        if str(a.get("email", "")).lower() != event.organizer_email.lower()
    ]
    return {m.address.lower(): m for m in Mailbox.objects.filter(address__in=addresses)}


def _copy_fields(event: CalendarEvent) -> dict:
    """What an attendee's copy shares with the organiser's event (not the organiser's
    extended properties: those are the organiser's item's own MAPI properties)."""
    return {
        "ical_uid": event.ical_uid,
        "summary": event.summary,
        "description": event.description,
        "location": event.location,
        "start": event.start,
        "end": event.end,
        "time_zone": event.time_zone,
        "all_day": event.all_day,
        "organizer_email": event.organizer_email,
        "attendees": event.attendees,
        "conference": event.conference,
        "sequence": event.sequence,
    }


def _sync_copies(event: CalendarEvent, *, cancel_all: bool = False) -> None:
    """Bring every attendee's copy in line with the organiser's event: create the copies of
    new attendees, update the others, cancel the copies of attendees no longer invited."""
    invited = {} if cancel_all else _attendee_mailboxes(event)
    copies = {
        c.mailbox.address.lower(): c
        for c in CalendarEvent.objects.filter(ical_uid=event.ical_uid)
        .exclude(pk=event.pk)
        .select_related("mailbox")
    }
    for address, copy in copies.items():
        if copy.removed_at is not None and address in invited:
            # A declined copy stays out of the calendar until the organiser changes time.
            if copy.start == event.start and copy.end == event.end:
                continue
            copy.removed_at = None
        for name, value in _copy_fields(event).items():
            setattr(copy, name, value)
        if address not in invited:
            copy.status = CalendarEvent.Status.CANCELLED
        _touch(copy, mailbox=copy.mailbox)
        copy.save()
    for address, mailbox in invited.items():
        if address in copies:
            continue
        copy = CalendarEvent(
            mailbox=mailbox, provider_id=ids.graph_rest_id(), **_copy_fields(event)
        )
        _touch(copy, mailbox=mailbox)
        copy.save()


def _normalized_attendees(attendees: list[dict], organizer: Mailbox) -> list[dict]:
    seen: dict[str, dict] = {}
    for attendee in attendees:
        address = str(attendee.get("email", "")).strip().lower()
        if not address or address == organizer.address.lower():
            continue
        seen[address] = {
            "email": address,
            "displayName": attendee.get("displayName") or "",
            "optional": bool(attendee.get("optional")),
            "responseStatus": "needsAction",
        }
    return [
        {
            "email": organizer.address.lower(),
            "displayName": organizer.display_name,
            "organizer": True,
            "responseStatus": "accepted",
        },
        *seen.values(),
    ]


def event_create(*, mailbox: Mailbox, fields: EventFields) -> CalendarEvent:
    if fields.start is None or fields.end is None:
        raise SandboxError("invalid", "An event needs a start and an end.")
    if fields.end < fields.start:
        raise SandboxError("invalid", "The end of an event cannot be before its start.")
    with transaction.atomic():
        event = CalendarEvent(
            mailbox=mailbox,
            provider_id=ids.graph_rest_id(),
            ical_uid=_ical_uid(),
            summary=fields.summary or "",
            description=fields.description or "",
            location=fields.location or "",
            start=fields.start,
            end=fields.end,
            time_zone=fields.time_zone or "UTC",
            transparent=bool(fields.transparent),
            organizer_email=mailbox.address.lower(),
            attendees=_normalized_attendees(fields.attendees or [], mailbox),
            private_properties=dict(fields.properties),
            conference=_teams_conference(fields.teams_root) if fields.teams_meeting else {},
        )
        _touch(event, mailbox=mailbox)
        event.save()
        _sync_copies(event)
    return event


def event_update(*, event: CalendarEvent, fields: EventFields) -> CalendarEvent:
    """PATCH: an organiser's change reaches the attendees' copies; a new time asks every
    attendee to answer again. An attendee's change stays in their own copy."""
    start = fields.start or event.start
    end = fields.end or event.end
    if end < start:
        raise SandboxError("invalid", "The end of an event cannot be before its start.")
    organizer = event.organizer_email.lower() == event.mailbox.address.lower()
    with transaction.atomic():
        rescheduled = (start, end) != (event.start, event.end)
        for name in ("summary", "description", "location", "time_zone", "transparent"):
            value = getattr(fields, name)
            if value is not None:
                setattr(event, name, value)
        event.start, event.end = start, end
        event.private_properties = {**event.private_properties, **fields.properties}
        if fields.teams_meeting is not None:
            if fields.teams_meeting and not event.conference:
                event.conference = _teams_conference(fields.teams_root)
            elif not fields.teams_meeting:
                event.conference = {}
        if organizer:
            if fields.attendees is not None:
                previous = {a["email"]: a for a in event.attendees}
                event.attendees = [
                    {**a, "responseStatus": previous.get(a["email"], a)["responseStatus"]}
                    for a in _normalized_attendees(fields.attendees, event.mailbox)
                ]
            if rescheduled:
                event.attendees = [
                    a if a.get("organizer") else {**a, "responseStatus": "needsAction"}
                    for a in event.attendees
                ]
            event.sequence += 1
        _touch(event, mailbox=event.mailbox)
        event.save()
        if organizer:
            _sync_copies(event)
    return event


def event_delete(*, event: CalendarEvent) -> None:
    """DELETE: the event leaves its owner's calendar. When the owner organised it, every
    attendee's copy is cancelled (it stays in their calendar, isCancelled, until they
    remove it), as Outlook's cancellation notice does."""
    with transaction.atomic():
        if event.organizer_email.lower() == event.mailbox.address.lower():
            event.status = CalendarEvent.Status.CANCELLED
            event.sequence += 1
            _sync_copies(event, cancel_all=True)
        event.removed_at = timezone.now()
        _touch(event, mailbox=event.mailbox)
        event.save()


def event_cancel(*, event: CalendarEvent) -> None:
    """POST …/cancel: only the organiser may cancel a meeting; it is then deleted."""
    if event.organizer_email.lower() != event.mailbox.address.lower():
        raise SandboxError(
            "forbidden",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        )
    event_delete(event=event)


def event_respond(*, event: CalendarEvent, action: str) -> CalendarEvent:
    """An attendee accepts, declines or tentatively accepts their copy; the organiser's
    event records the answer. Declining moves the copy out of the attendee's calendar."""
    mailbox = event.mailbox
    if event.organizer_email.lower() == mailbox.address.lower():
        raise SandboxError(
            "forbidden", "Your request can't be completed. You can't respond to your own meeting."
        )
    if event.status == CalendarEvent.Status.CANCELLED:
        raise SandboxError("invalid", "Your request can't be completed. The meeting was cancelled.")
    answer = RESPONSES[action]
    answered_at = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.0000000Z")

    def answered(attendees: list[dict]) -> list[dict]:
        return [
            {**a, "responseStatus": answer, "responseTime": answered_at}
            if str(a.get("email", "")).lower() == mailbox.address.lower()
            else a
            for a in attendees
        ]

    with transaction.atomic():
        event.attendees = answered(event.attendees)
        if answer == "declined":
            event.removed_at = timezone.now()
        _touch(event, mailbox=mailbox)
        event.save()
        organizers = CalendarEvent.objects.filter(
            ical_uid=event.ical_uid,
            mailbox__address__iexact=event.organizer_email,
            removed_at__isnull=True,
        ).select_related("mailbox")
        for original in organizers:
            original.attendees = answered(original.attendees)
            _touch(original, mailbox=original.mailbox)
            original.save(update_fields=["attendees", "changed_seq", "updated_at"])
    return event
