"""Free slots for an interview: pure computation, no database and no provider.

Everything is compared as absolute (UTC-aware) instants; wall-clock times only enter
where people think in them: candidate starts lie on the organiser's local half-hours, and
each person's working hours are read in their own time zone. So a slot is right across
daylight-saving changes and for colleagues abroad (zoneinfo does the calendar work)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailsync.providers.calendar import Availability, WorkingHours

DEFAULT_WORKING_DAYS = frozenset({1, 2, 3, 4, 5})
DEFAULT_WORKING_START = time(9, 0)
DEFAULT_WORKING_END = time(17, 0)
STEP = timedelta(minutes=30)
SLOTS_PER_DAY = 6


@dataclass(frozen=True)
class Slot:
    """A proposed interview time, in the organiser's time zone."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class SlotProposal:
    """Proposed slots by the organiser's local day (days without any left out), and the
    people whose calendar the provider could not read (their busy time is unknown)."""

    days: dict[date, list[Slot]]
    unknown: dict[str, str]


def default_working_hours(time_zone: str) -> WorkingHours:
    return WorkingHours(
        days=DEFAULT_WORKING_DAYS,
        start=DEFAULT_WORKING_START,
        end=DEFAULT_WORKING_END,
        time_zone=time_zone,
    )


def local_starts(day: date, zone: ZoneInfo, step: timedelta) -> list[datetime]:
    """Every wall-clock time of `day` on `step` boundaries that exists in `zone`, as an
    aware datetime. A time skipped when clocks go forward is left out; a time that happens
    twice when they go back gives both instants."""
    starts: list[datetime] = []
    minutes = int(step.total_seconds() // 60)
    for minute in range(0, 24 * 60, minutes):
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        for fold in (0, 1):
            candidate = wall.replace(tzinfo=zone, fold=fold)
            instant = candidate.astimezone(UTC)
            # A wall time that does not exist comes back from UTC as another wall time.
            if instant.astimezone(zone).replace(tzinfo=None) != wall:
                continue
            if all(instant != known.astimezone(UTC) for known in starts):
                starts.append(instant.astimezone(zone))
    # Aware datetimes of one zone compare by wall clock: order by the instant instead.
    return sorted(starts, key=lambda start: start.astimezone(UTC))


def within_working_hours(start: datetime, end: datetime, hours: WorkingHours) -> bool:
    """The whole slot lies inside one working day of the person, in their own zone."""
    zone = ZoneInfo(hours.time_zone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_start.isoweekday() not in hours.days:
        return False
    # A working day ending at midnight ("00:00") ends with the day.
    day_end = (
        datetime.combine(local_start.date(), hours.end, tzinfo=zone)
        if hours.end != time(0)
        else datetime.combine(local_start.date() + timedelta(days=1), time(0), tzinfo=zone)
    )
    day_start = datetime.combine(local_start.date(), hours.start, tzinfo=zone)
    return day_start <= local_start and local_end <= day_end


def overlaps_busy(
    start: datetime, end: datetime, busy: Iterable[tuple[datetime, datetime]]
) -> bool:
    return any(busy_start < end and start < busy_end for busy_start, busy_end in busy)


def spread(slots: list[Slot], most: int) -> list[Slot]:
    """At most `most` slots, spread over the day rather than the first few of the morning,
    so that the organiser sees early and late choices."""
    if len(slots) <= most:
        return slots
    if most <= 1:
        return slots[:most]
    last = len(slots) - 1
    picked = sorted({round(index * last / (most - 1)) for index in range(most)})
    return [slots[index] for index in picked]


def free_slots(
    *,
    time_zone: str,
    first_day: date,
    last_day: date,
    duration: timedelta,
    availability: Mapping[str, Availability],
    now: datetime,
    step: timedelta = STEP,
    per_day: int = SLOTS_PER_DAY,
) -> SlotProposal:
    """Slots of `duration` starting on the organiser's local `step` boundaries, on the
    organiser's local days from `first_day` to `last_day`, that start after `now`, lie in
    every person's working hours (the provider's where it gave them, else 09:00-17:00
    Monday to Friday in the organiser's zone) and overlap nobody's busy time."""
    zone = ZoneInfo(time_zone)
    default_hours = default_working_hours(time_zone)
    people = [
        (person.working_hours or default_hours, person.busy)
        for person in availability.values()
        if not person.error
    ]
    unknown = {address: person.error for address, person in availability.items() if person.error}
    # Every calendar unreadable: the organiser's default hours still bound the proposal.
    people = people or [(default_hours, [])]
    days: dict[date, list[Slot]] = {}
    day = first_day
    while day <= last_day:
        free: list[Slot] = []
        for start in local_starts(day, zone, step):
            end = (start.astimezone(UTC) + duration).astimezone(zone)
            if start.astimezone(UTC) <= now.astimezone(UTC):
                continue
            if not all(within_working_hours(start, end, hours) for hours, _ in people):
                continue
            if any(overlaps_busy(start, end, busy) for _, busy in people):
                continue
            free.append(Slot(start=start, end=end))
        if free:
            days[day] = spread(free, per_day)
        day += timedelta(days=1)
    return SlotProposal(days=days, unknown=unknown)
