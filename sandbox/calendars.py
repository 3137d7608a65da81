"""Calendars as a person (or a script) drives them from outside the APIs: the sandbox's
pages, `manage.py sandbox event-create` / `event-respond` and the demo seeding.

An event made here is made the way its owner's provider makes it (a Google event with a
Meet link through the Calendar face's service, an Outlook event with a Teams meeting
through the Graph one), so both faces serve it exactly like one a client created.

Answering an invitation "as the candidate" covers an attendee who is not a sandbox user
(a candidate's own address): their answer is recorded on the organiser's event, where the
organiser's sync sees it, and on every sandbox copy of it, each moved to its mailbox's
newest change position (`changed_seq`) with a fresh `updated_at`, which are what Google's
`updatedMin` / sync tokens / etags and Graph's delta / changeKey read.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from sandbox import ids, services
from sandbox.microsoft import calendar as graph_calendar
from sandbox.models import CalendarEvent, Mailbox, Provider
from sandbox.services import SandboxError

# What a person answers, in the stored (Google) vocabulary.
ANSWERS = {"accepted": "Accept", "tentative": "Maybe", "declined": "Decline"}
# Spellings a script may use for them.
ANSWER_ALIASES = {
    "accept": "accepted",
    "accepted": "accepted",
    "yes": "accepted",
    "tentative": "tentative",
    "maybe": "tentative",
    "tentativelyaccept": "tentative",
    "decline": "declined",
    "declined": "declined",
    "no": "declined",
}


def zone_or_error(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SandboxError("invalid", f"Unknown time zone: {name}") from error


def answer_normalize(answer: str) -> str:
    response = ANSWER_ALIASES.get(answer.strip().lower())
    if response is None:
        raise SandboxError("invalid", f"Not an answer: {answer!r} (accept, tentative or decline)")
    return response


# --- Writes ------------------------------------------------------------------------------


def event_make(
    *,
    mailbox: Mailbox,
    summary: str,
    start: datetime,
    end: datetime,
    time_zone: str = "UTC",
    attendees: list[str] | None = None,
    online_meeting: bool = False,
    description: str = "",
    private_properties: dict[str, str] | None = None,
    transparent: bool = False,
) -> CalendarEvent:
    """An event in `mailbox`'s calendar, organised by it, invitations sent to the
    attendees who are sandbox users (each gets their copy, as the provider sends them)."""
    zone_or_error(time_zone)
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise SandboxError("invalid", "Event times need a time zone.")
    if end <= start:
        raise SandboxError("invalid", "An event must end after it starts.")
    addresses = list(dict.fromkeys(a.strip().lower() for a in attendees or [] if a.strip()))
    if mailbox.provider == Provider.MICROSOFT:
        return graph_calendar.event_create(
            mailbox=mailbox,
            fields=graph_calendar.EventFields(
                summary=summary,
                description=description,
                start=start,
                end=end,
                time_zone=time_zone,
                attendees=[{"email": a} for a in addresses],
                teams_meeting=online_meeting,
                transparent=transparent,
                properties=dict(private_properties or {}),
            ),
        )
    conference: dict[str, Any] = {}
    if online_meeting:
        code = ids.google_meet_code()
        conference = {"kind": "hangoutsMeet", "id": code, "url": f"https://meet.google.com/{code}"}
    people = [{"email": mailbox.address, "responseStatus": "accepted"}] if addresses else []
    people += [
        {"email": a, "responseStatus": "needsAction"} for a in addresses if a != mailbox.address
    ]
    return services.calendar_event_create(
        mailbox=mailbox,
        fields={
            "summary": summary,
            "description": description,
            "start": start,
            "end": end,
            "time_zone": time_zone,
            "attendees": people,
            "conference": conference,
            "transparent": transparent,
            "private_properties": dict(private_properties or {}),
        },
        send_updates="all",
    )


def invitation_answer(*, email: str, ical_uid: str, answer: str) -> CalendarEvent:
    """`email`'s answer to the invitation `ical_uid`, whether or not `email` is a sandbox
    user. Recorded on the organiser's event and every live copy listing `email`; an
    Outlook attendee's own copy leaves their calendar when they decline (as Exchange moves
    it to Deleted Items). Returns the organiser's event."""
    email = email.strip().lower()
    response = answer_normalize(answer)
    answered_at = timezone.now()
    with transaction.atomic():
        rows = list(
            CalendarEvent.objects.select_for_update()
            .select_related("mailbox")
            .filter(ical_uid=ical_uid)
            .order_by("pk")
        )
        organiser = next((r for r in rows if _is_organisers(r)), None)
        if organiser is None or not _lists(organiser, email):
            raise SandboxError("not_found", f"{email} is not invited to this event.")
        if organiser.status == CalendarEvent.Status.CANCELLED or organiser.removed_at:
            raise SandboxError("invalid", "The meeting was cancelled.")
        for row in rows:
            if row.removed_at or row.status == CalendarEvent.Status.CANCELLED:
                continue
            if not _lists(row, email):
                continue
            answered = {"responseStatus": response}
            if row.mailbox.provider == Provider.MICROSOFT:
                # Graph reports when an attendee answered; Google's attendee has no such field.
                answered["responseTime"] = answered_at.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            row.attendees = [
                {**a, **answered} if str(a.get("email", "")).lower() == email else a
                for a in row.attendees
            ]
            own_outlook_copy = (
                row.mailbox.address == email and row.mailbox.provider == Provider.MICROSOFT
            )
            if own_outlook_copy and response == "declined":
                row.removed_at = answered_at
            row.changed_seq = services.history_ids_allocate(row.mailbox, 1)
            row.updated_at = answered_at
            row.save(update_fields=["attendees", "removed_at", "changed_seq", "updated_at"])
    organiser.refresh_from_db()
    return organiser


def _is_organisers(event: CalendarEvent) -> bool:
    return event.organizer_email.lower() == event.mailbox.address.lower()


def _lists(event: CalendarEvent, email: str) -> bool:
    return any(str(a.get("email", "")).lower() == email for a in event.attendees)


# --- Reads -------------------------------------------------------------------------------


def _live(events: QuerySet[CalendarEvent]) -> QuerySet[CalendarEvent]:
    return events.filter(removed_at__isnull=True)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Week:
    first: date
    zone: ZoneInfo

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.first, datetime.min.time(), self.zone)

    @property
    def ends(self) -> datetime:
        return self.starts + timedelta(days=7)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(7)]


def week_events(*, mailbox: Mailbox, week: Week) -> list[CalendarEvent]:
    """The events of `mailbox`'s calendar overlapping the week, cancelled ones included
    (the page shows them struck through, as calendars do)."""
    events = _live(CalendarEvent.objects.filter(mailbox=mailbox)).filter(
        start__lt=week.ends, end__gt=week.starts
    )
    return list(events.order_by("start", "pk"))


def invitations_for(email: str) -> list[CalendarEvent]:
    """Organisers' events across every sandbox calendar that list `email` as an attendee
    (not as their organiser), soonest first."""
    email = email.strip().lower()
    if not email:
        return []
    events = (
        _live(CalendarEvent.objects.filter(organizer_email__iexact=F("mailbox__address")))
        .exclude(organizer_email__iexact=email)
        # A cheap textual narrowing on every database; the exact test is below.
        .annotate(attendees_text=Cast("attendees", TextField()))
        .filter(attendees_text__icontains=email)
        .select_related("mailbox")
        .order_by("start", "pk")
    )
    return [event for event in events if _lists(event, email)]


def own_answer(event: CalendarEvent, email: str) -> str:
    email = email.strip().lower()
    for attendee in event.attendees:
        if str(attendee.get("email", "")).lower() == email:
            return str(attendee.get("responseStatus") or "needsAction")
    return ""


def event_by_title(*, mailbox: Mailbox | None, email: str, title: str) -> CalendarEvent:
    """The one invitation of `email` titled `title` (case-insensitive), for scripts."""
    found = [e for e in invitations_for(email) if e.summary.lower() == title.strip().lower()]
    if mailbox is not None:
        found = [e for e in found if e.mailbox_id == mailbox.pk]
    if not found:
        raise SandboxError("not_found", f"No invitation of {email} titled {title!r}.")
    if len(found) > 1:
        raise SandboxError(
            "invalid", f"{len(found)} invitations of {email} are titled {title!r}; give --id."
        )
    return found[0]


def event_by_id(event_id: str) -> CalendarEvent:
    """An event by its provider id (Google event id or Graph id) or its iCalUID; an
    iCalUID names the organiser's event."""
    event = CalendarEvent.objects.select_related("mailbox").filter(provider_id=event_id).first()
    if event is None:
        copies = CalendarEvent.objects.select_related("mailbox").filter(ical_uid=event_id)
        event = next((e for e in copies if _is_organisers(e)), None)
    if event is None:
        raise SandboxError("not_found", f"No event {event_id}.")
    return event
