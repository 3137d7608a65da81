"""What is read about interviews: from our tables through the visibility policy, and the
free/busy the organiser's calendar gives for proposing slots."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from candidates.models import Candidate
from interviews.models import Interview
from interviews.policy import may_be_interviewer, visible_interviews
from interviews.slots import SlotProposal, free_slots
from mailsync.models import MailboxConnection
from mailsync.tokens import open_calendar

# Interviews are followed by the calendar sync until a day after they end: later answers
# or deletions no longer matter to anyone.
SYNC_AFTER_END = timedelta(days=1)


def interviews_for_candidate(*, user: User, candidate: Candidate) -> QuerySet[Interview]:
    return (
        visible_interviews(user)
        .filter(candidate=candidate)
        .select_related("organiser")
        .prefetch_related("attendees")
        .order_by("-starts_at")
    )


def interview_get(*, user: User, candidate: Candidate, interview_id: int | str) -> Interview:
    """One interview of a candidate the user may see, or 404."""
    return get_object_or_404(
        visible_interviews(user).filter(candidate=candidate).select_related("connection"),
        pk=interview_id,
    )


def interviewers_for(*, user: User) -> list[User]:
    """The colleagues `user` may invite as interviewers: active members of the same
    organisation whose own Calendar is allowed (their free/busy is read)."""
    colleagues = (
        User.objects.filter(organisation=user.organisation, is_active=True)
        .exclude(pk=user.pk)
        .select_related("mailbox", "organisation")
        .order_by("full_name", "email")
    )
    return [
        colleague
        for colleague in colleagues
        if may_be_interviewer(colleague, getattr(colleague, "mailbox", None))
    ]


def last_time_zone_for(*, user: User) -> str | None:
    """The zone the organiser scheduled their last interview in: where they probably are
    (None before their first, when the form takes the browser's zone instead)."""
    zone = (
        Interview.objects.filter(organiser=user)
        .order_by("-created_at")
        .values_list("time_zone", flat=True)
        .first()
    )
    return zone or None


@dataclass(frozen=True)
class SlotSearch:
    """What the organiser asked for."""

    first_day: date
    last_day: date
    duration: timedelta
    time_zone: str


def slots_propose(
    *, connection: MailboxConnection, attendees: list[str], search: SlotSearch
) -> SlotProposal:
    """Free slots for the organiser (`connection`'s owner) and `attendees` (addresses),
    read from the organiser's calendar's free/busy. Raises ProviderError."""
    zone = ZoneInfo(search.time_zone)
    start = datetime.combine(search.first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(search.last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(
        UTC
    )
    addresses = [connection.account_address, *attendees]
    availability = open_calendar(connection).availability(
        addresses, start, end, time_zone=search.time_zone
    )
    return free_slots(
        time_zone=search.time_zone,
        first_day=search.first_day,
        last_day=search.last_day,
        duration=search.duration,
        availability=availability,
        now=timezone.now(),
        per_day=settings.INTERVIEWS_SLOTS_PER_DAY,
    )


def calendars_to_sync() -> list[int]:
    """Connections whose calendar holds interviews still worth following, and whose
    Calendar feature may run (asked of the database, as `feature_status` would)."""
    following = Interview.objects.filter(
        status=Interview.Status.SCHEDULED, ends_at__gte=timezone.now() - SYNC_AFTER_END
    ).values("connection_id")
    return list(
        MailboxConnection.objects.filter(
            Q(pk__in=following),
            state=MailboxConnection.State.CONNECTED,
            uses_calendar=True,
            user__is_active=True,
            organisation__calendar_enabled=True,
        )
        .order_by("calendar_synced_at", "pk")
        .values_list("pk", flat=True)
    )


def interviews_followed(*, connection: MailboxConnection) -> QuerySet[Interview]:
    return Interview.objects.filter(
        connection=connection,
        status=Interview.Status.SCHEDULED,
        ends_at__gte=timezone.now() - SYNC_AFTER_END,
    ).prefetch_related("attendees")
