"""What Threadline asks of a calendar, in its own vocabulary.

Every event Threadline creates carries our tag (Google: a private extended property;
Graph: a single-value extended property); `tagged_events` reads back events that carry
one and nothing else, so no other event of the user's calendar is ever fetched."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, time

# Our answers vocabulary (interviews.models.InterviewAttendee.Response values).
NEEDS_ACTION, ACCEPTED, TENTATIVE, DECLINED = "needs_action", "accepted", "tentative", "declined"


@dataclass(frozen=True)
class WorkingHours:
    """A person's working hours as their provider states them (Graph's mailbox settings);
    `days` are ISO weekdays (1 = Monday)."""

    days: frozenset[int]
    start: time
    end: time
    time_zone: str


@dataclass(frozen=True)
class Availability:
    """One person's busy intervals (UTC-aware) in the asked window, and their working
    hours where the provider tells them (None: use the organiser's defaults)."""

    busy: list[tuple[datetime, datetime]]
    working_hours: WorkingHours | None = None
    # The provider could not read this person's calendar (outside the domain, no access).
    error: str = ""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    response: str = NEEDS_ACTION


@dataclass(frozen=True)
class EventDraft:
    """What Threadline writes. `description` is the invitation text: sent, never kept."""

    title: str
    description: str
    start: datetime
    end: datetime
    time_zone: str
    attendees: list[Attendee]
    tag: str


@dataclass(frozen=True)
class CalendarEvent:
    """An event of ours as the provider reports it."""

    event_id: str
    ical_uid: str
    tag: str
    title: str
    start: datetime
    end: datetime
    meeting_url: str = ""
    # Cancelled or deleted in the organiser's calendar.
    cancelled: bool = False
    attendees: list[Attendee] = field(default_factory=list)


class CalendarSession(ABC):
    """One connection's calendar. Errors are mailsync.providers.base.ProviderError."""

    # True where `tagged_events` reads every tagged event whatever `changed_since` says
    # (Graph cannot filter on change time): then every round tells a deleted event.
    reads_all_tagged_events: bool = False

    @abstractmethod
    def availability(
        self, addresses: list[str], start: datetime, end: datetime, *, time_zone: str
    ) -> dict[str, Availability]:
        """Busy times of each address (the organiser's own included) in [start, end)."""

    @abstractmethod
    def event_create(self, draft: EventDraft) -> CalendarEvent:
        """Create the event with a Meet / Teams meeting; the provider invites attendees."""

    @abstractmethod
    def event_update(self, event_id: str, draft: EventDraft) -> CalendarEvent:
        """Move or change the event; the provider tells attendees."""

    @abstractmethod
    def event_cancel(self, event_id: str, *, message: str = "") -> None:
        """Cancel the event; the provider tells attendees. Already gone is fine."""

    @abstractmethod
    def tagged_events(self, *, changed_since: datetime | None) -> list[CalendarEvent]:
        """Every event carrying our tag (changed since the given time where the provider
        can filter on it). A tagged event that is missing from a full read was deleted."""
