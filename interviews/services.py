"""Scheduling, moving and cancelling interviews, and reading back what happened to them in
the organiser's calendar. One service per action; each calls the provider first, outside
any transaction (an HTTP call must not hold a database lock), then stores what the
provider answered in one transaction."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from candidates import audit
from candidates.models import Candidate
from interviews.models import Interview, InterviewAttendee
from interviews.policy import may_be_interviewer, may_change, may_schedule
from interviews.selectors import calendars_to_sync, interviews_followed
from mailsync.models import MailboxConnection
from mailsync.policy import feature_status
from mailsync.providers.base import ProviderError
from mailsync.providers.calendar import Attendee, CalendarEvent, EventDraft
from mailsync.tokens import mark_needs_reauthorization, open_calendar

logger = logging.getLogger(__name__)
# Events changed this long before the last sync are read again: the provider's clock and
# ours differ, and an update committed while we read must not fall between two rounds.
SYNC_OVERLAP = timedelta(minutes=5)


class InterviewError(Exception):
    """Refused or failed; `field` names the form field it concerns ("" for the form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _provider_failed(connection: MailboxConnection, failure: ProviderError) -> InterviewError:
    """A revoked grant stops every use of the connection until the user re-authorizes."""
    if failure.permanent and failure.needs_reauthorization:
        mark_needs_reauthorization(connection, failure)
        return InterviewError("Your calendar needs re-authorization under Settings › My account.")
    if not failure.permanent:
        return InterviewError("The calendar provider is busy: please try again in a minute.")
    return InterviewError(f"The calendar provider refused: {failure}")


def _draft(
    *,
    candidate: Candidate,
    interviewers: list[User],
    title: str,
    invitation: str,
    start: datetime,
    duration: timedelta,
    time_zone: str,
    tag: str,
) -> EventDraft:
    address = candidate.primary_email
    if address is None:
        raise InterviewError("The candidate has no email address to invite.")
    return EventDraft(
        title=title,
        description=invitation,
        start=start,
        end=start + duration,
        time_zone=time_zone,
        attendees=[
            Attendee(email=address.address, name=candidate.full_name),
            *(Attendee(email=user.email, name=user.full_name) for user in interviewers),
        ],
        tag=tag,
    )


def _store_attendees(
    interview: Interview,
    *,
    organiser: User,
    candidate_address: str,
    interviewers: list[User],
    answers: dict[str, str],
) -> None:
    people = [
        InterviewAttendee(
            interview=interview,
            email=organiser.email,
            name=organiser.full_name,
            user=organiser,
            is_organiser=True,
            response=InterviewAttendee.Response.ACCEPTED,
        ),
        InterviewAttendee(
            interview=interview,
            email=candidate_address,
            name=interview.candidate.full_name,
            is_candidate=True,
        ),
        *(
            InterviewAttendee(interview=interview, email=user.email, name=user.full_name, user=user)
            for user in interviewers
        ),
    ]
    for person in people:
        if not person.is_organiser:
            person.response = answers.get(person.email.lower(), person.response)
    InterviewAttendee.objects.bulk_create(people, ignore_conflicts=True)


def _answers(event: CalendarEvent) -> dict[str, str]:
    return {attendee.email.lower(): attendee.response for attendee in event.attendees}


def interview_schedule(
    *,
    organiser: User,
    connection: MailboxConnection | None,
    candidate: Candidate,
    interviewers: list[User],
    title: str,
    invitation: str,
    start: datetime,
    duration: timedelta,
    time_zone: str,
) -> Interview:
    """Create the event in the organiser's calendar with a Meet / Teams meeting, the
    candidate and the interviewers invited by the provider, then record the interview.
    The invitation text goes to the provider only."""
    status = may_schedule(organiser, candidate, connection)
    if not status.allowed or connection is None:
        raise InterviewError(status.why_not)
    for interviewer in interviewers:
        if interviewer.organisation_id != organiser.organisation_id or not may_be_interviewer(
            interviewer, getattr(interviewer, "mailbox", None)
        ):
            raise InterviewError(
                f"{interviewer.email} cannot be invited: their Calendar is not connected.",
                field="interviewers",
            )
    if start <= timezone.now():
        raise InterviewError("That time has passed: choose another slot.")
    if Interview.objects.filter(
        candidate=candidate, organiser=organiser, starts_at=start, status=Interview.Status.SCHEDULED
    ).exists():
        # A second click on Confirm: the first one already invited everybody.
        raise InterviewError("This interview is already scheduled at that time.")
    tag = uuid.uuid4().hex
    draft = _draft(
        candidate=candidate,
        interviewers=interviewers,
        title=title,
        invitation=invitation,
        start=start,
        duration=duration,
        time_zone=time_zone,
        tag=tag,
    )
    try:
        event = open_calendar(connection).event_create(draft)
    except ProviderError as failure:
        raise _provider_failed(connection, failure) from failure
    try:
        with transaction.atomic():
            interview = Interview.objects.create(
                organisation_id=candidate.organisation_id,
                candidate=candidate,
                organiser=organiser,
                connection=connection,
                provider=connection.provider,
                provider_event_id=event.event_id,
                ical_uid=event.ical_uid,
                tag=tag,
                title=title,
                starts_at=event.start,
                ends_at=event.end,
                time_zone=time_zone,
                meeting_url=event.meeting_url,
                synced_at=timezone.now(),
            )
            _store_attendees(
                interview,
                organiser=organiser,
                candidate_address=draft.attendees[0].email,
                interviewers=interviewers,
                answers=_answers(event),
            )
            audit.record(
                actor=organiser,
                event=audit.Event.INTERVIEW_SCHEDULED,
                candidate_id=candidate.pk,
                about=interview,
            )
    except Exception:
        # Not recorded, so not followed: take the invitation back rather than leave an
        # event nobody in Threadline knows about.
        _cancel_quietly(connection, event.event_id)
        raise
    logger.info("Interview %s scheduled in connection %s", interview.pk, connection.pk)
    return interview


def _cancel_quietly(connection: MailboxConnection, event_id: str) -> None:
    try:
        open_calendar(connection).event_cancel(event_id)
    except ProviderError:
        logger.warning("Could not cancel unrecorded event in connection %s", connection.pk)


def interview_reschedule(
    *,
    actor: User,
    connection: MailboxConnection | None,
    interview: Interview,
    start: datetime,
    duration: timedelta,
    invitation: str,
    time_zone: str,
) -> Interview:
    """Move the event; the provider tells the attendees, whose answers start over."""
    status = may_change(actor, interview, connection)
    if not status.allowed or connection is None:
        raise InterviewError(status.why_not)
    if start <= timezone.now():
        raise InterviewError("That time has passed: choose another slot.")
    interviewers = [
        attendee.user
        for attendee in interview.attendees.select_related("user", "user__mailbox")
        if attendee.user is not None and not attendee.is_organiser
    ]
    draft = _draft(
        candidate=interview.candidate,
        interviewers=interviewers,
        title=interview.title,
        invitation=invitation,
        start=start,
        duration=duration,
        time_zone=time_zone,
        tag=interview.tag,
    )
    # The candidate keeps the address they were invited at, even if the primary changed.
    invited = interview.attendees.filter(is_candidate=True).values_list("email", flat=True).first()
    if invited:
        draft.attendees[0] = Attendee(email=invited, name=interview.candidate.full_name)
    try:
        event = open_calendar(connection).event_update(interview.provider_event_id, draft)
    except ProviderError as failure:
        raise _provider_failed(connection, failure) from failure
    with transaction.atomic():
        interview.starts_at, interview.ends_at = event.start, event.end
        interview.time_zone = time_zone
        interview.meeting_url = event.meeting_url or interview.meeting_url
        interview.changed_at = interview.synced_at = timezone.now()
        interview.save(
            update_fields=[
                "starts_at",
                "ends_at",
                "time_zone",
                "meeting_url",
                "changed_at",
                "synced_at",
            ]
        )
        _apply_answers(interview, event, reset=True)
        audit.record(
            actor=actor,
            event=audit.Event.INTERVIEW_RESCHEDULED,
            candidate_id=interview.candidate_id,
            about=interview,
        )
    return interview


def interview_cancel(
    *, actor: User, connection: MailboxConnection | None, interview: Interview, message: str = ""
) -> Interview:
    """Cancel the event; the provider sends the attendees the cancellation (with
    `message`, which is not kept)."""
    status = may_change(actor, interview, connection)
    if not status.allowed or connection is None:
        raise InterviewError(status.why_not)
    try:
        open_calendar(connection).event_cancel(interview.provider_event_id, message=message)
    except ProviderError as failure:
        raise _provider_failed(connection, failure) from failure
    with transaction.atomic():
        interview.status = Interview.Status.CANCELLED
        interview.changed_at = timezone.now()
        interview.save(update_fields=["status", "changed_at"])
        audit.record(
            actor=actor,
            event=audit.Event.INTERVIEW_CANCELLED,
            candidate_id=interview.candidate_id,
            about=interview,
        )
    return interview


def _apply_answers(interview: Interview, event: CalendarEvent, *, reset: bool = False) -> None:
    """Each attendee's answer as the provider reports it. Attendees the provider no longer
    lists keep what we had (a provider may omit the organiser); with `reset`, answers the
    provider did not report start over (the event moved)."""
    answers = _answers(event)
    for attendee in interview.attendees.all():
        if attendee.is_organiser:
            continue
        answer = answers.get(attendee.email.lower())
        if answer is None and reset:
            answer = InterviewAttendee.Response.NEEDS_ACTION
        if answer is not None and answer != attendee.response:
            attendee.response = answer
            attendee.save(update_fields=["response"])


@dataclass
class CalendarSyncReport:
    status: str = "ok"  # ok | skipped | failed
    seen: int = 0
    updated: int = 0
    deleted: int = 0
    error: str = ""


def _full_read_due(last: datetime | None, now: datetime) -> bool:
    """Whether this round reads every tagged event rather than the recent changes: the only
    way to notice an event that vanished (Graph lists no deletions). Done on the first
    round and then on the first round of each INTERVIEWS_CALENDAR_FULL_READ_SECONDS
    period, which needs no state beyond the last sync time."""
    period = settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS
    if last is None or period <= 0:
        return True
    return int(last.timestamp()) // period != int(now.timestamp()) // period


def calendar_sync(*, connection_id: int) -> CalendarSyncReport:
    """Read back the events Threadline created in one calendar and bring the interviews up
    to date: times, meeting link, each attendee's answer, and whether the organiser
    cancelled or deleted the event. Nothing but tagged events is requested. Two rounds
    at once do no harm (they write the same answers), so no lease is taken."""
    report = CalendarSyncReport()
    connection = (
        MailboxConnection.objects.select_related("user", "organisation")
        .filter(pk=connection_id)
        .first()
    )
    if connection is None or not feature_status(connection.user, "calendar", connection).allowed:
        report.status = "skipped"
        return report
    started = timezone.now()
    last = connection.calendar_synced_at
    full = _full_read_due(last, started)
    since = None if full or last is None else last - SYNC_OVERLAP
    try:
        session = open_calendar(connection)
        full = full or session.reads_all_tagged_events
        events = session.tagged_events(changed_since=None if full else since)
    except ProviderError as failure:
        report.status, report.error = "failed", str(failure)
        if failure.permanent and failure.needs_reauthorization:
            mark_needs_reauthorization(connection, failure)
        else:
            MailboxConnection.objects.filter(pk=connection.pk).update(
                calendar_last_error=(
                    "The calendar provider is busy; will try again next round."
                    if not failure.permanent
                    else f"Calendar sync stopped: {failure}"
                )[:500]
            )
        logger.warning("Calendar sync of connection %s failed: %s", connection.pk, failure)
        return report
    report.seen = len(events)
    # A deleted Google event comes back with its id alone (no tag): matched by id then.
    by_tag = {event.tag: event for event in events if event.tag}
    by_id = {event.event_id: event for event in events}
    with transaction.atomic():
        for interview in interviews_followed(connection=connection):
            event = by_tag.get(interview.tag) or by_id.get(interview.provider_event_id)
            if (event is None and full) or (event is not None and event.cancelled):
                interview.status = Interview.Status.DELETED_AT_PROVIDER
                interview.changed_at = interview.synced_at = started
                interview.save(update_fields=["status", "changed_at", "synced_at"])
                report.deleted += 1
            elif event is not None:
                interview.starts_at, interview.ends_at = event.start, event.end
                interview.title = event.title or interview.title
                interview.meeting_url = event.meeting_url or interview.meeting_url
                interview.synced_at = started
                interview.save(
                    update_fields=["starts_at", "ends_at", "title", "meeting_url", "synced_at"]
                )
                _apply_answers(interview, event)
                report.updated += 1
        MailboxConnection.objects.filter(pk=connection.pk).update(
            calendar_synced_at=started, calendar_last_error=""
        )
    return report


def calendar_sync_all() -> int:
    """Every calendar worth syncing, one after the other in this process (the beat task
    fans out to workers instead); returns how many were synced."""
    ids = calendars_to_sync()
    for connection_id in ids:
        calendar_sync(connection_id=connection_id)
    return len(ids)
