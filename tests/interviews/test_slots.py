"""Free-slot computation: pure, so plain tests, with daylight-saving changes and people in
other time zones."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from interviews.slots import free_slots, local_starts
from mailsync.providers.calendar import Availability, WorkingHours

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _starts(proposal, day):
    return [slot.start.strftime("%H:%M") for slot in proposal.days.get(day, [])]


def _propose(time_zone, day, availability, *, duration=HOUR, now=LONG_AGO, per_day=48, last=None):
    return free_slots(
        time_zone=time_zone,
        first_day=day,
        last_day=last or day,
        duration=duration,
        availability=availability,
        now=now,
        per_day=per_day,
    )


def test_default_hours_give_half_hour_starts_from_nine_to_four_in_the_organisers_zone():
    monday = date(2026, 6, 8)
    proposal = _propose("Europe/London", monday, {"me@x.test": Availability(busy=[])})
    assert _starts(proposal, monday) == [
        "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "12:30",
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00",
    ]  # fmt: skip
    assert all(slot.start.tzinfo == LONDON for slot in proposal.days[monday])


def test_weekends_are_not_proposed_by_default():
    saturday, sunday = date(2026, 6, 6), date(2026, 6, 7)
    proposal = _propose(
        "Europe/London", saturday, {"me@x.test": Availability(busy=[])}, last=sunday
    )
    assert proposal.days == {}


def test_busy_time_of_anyone_is_avoided():
    monday = date(2026, 6, 8)
    organiser_busy = (
        datetime(2026, 6, 8, 10, 0, tzinfo=LONDON),
        datetime(2026, 6, 8, 11, 0, tzinfo=LONDON),
    )
    # 13:15-14:00 in London, given in UTC (BST is UTC+1).
    interviewer_busy = (
        datetime(2026, 6, 8, 12, 15, tzinfo=UTC),
        datetime(2026, 6, 8, 13, 0, tzinfo=UTC),
    )
    proposal = _propose(
        "Europe/London",
        monday,
        {
            "me@x.test": Availability(busy=[organiser_busy]),
            "colleague@x.test": Availability(busy=[interviewer_busy]),
        },
    )
    assert _starts(proposal, monday) == [
        "09:00", "11:00", "11:30", "12:00", "14:00", "14:30", "15:00", "15:30", "16:00",
    ]  # fmt: skip


def test_nothing_in_the_past():
    monday = date(2026, 6, 8)
    now = datetime(2026, 6, 8, 14, 10, tzinfo=LONDON)
    proposal = _propose("Europe/London", monday, {"me@x.test": Availability(busy=[])}, now=now)
    assert _starts(proposal, monday) == ["14:30", "15:00", "15:30", "16:00"]


def test_at_most_n_per_day_spread_over_the_day():
    monday = date(2026, 6, 8)
    proposal = _propose("Europe/London", monday, {"me@x.test": Availability(busy=[])}, per_day=3)
    assert _starts(proposal, monday) == ["09:00", "12:30", "16:00"]


def test_a_colleague_in_new_york_narrows_the_day_to_the_overlap():
    """Working hours the provider gives are read in the person's own zone: 09:00 in New
    York is 14:00 in London (both on summer time in June)."""
    monday = date(2026, 6, 8)
    new_york_hours = WorkingHours(
        days=frozenset({1, 2, 3, 4, 5}), start=time(9), end=time(17), time_zone="America/New_York"
    )
    proposal = _propose(
        "Europe/London",
        monday,
        {
            "me@x.test": Availability(busy=[]),
            "ny@x.test": Availability(busy=[], working_hours=new_york_hours),
        },
    )
    assert _starts(proposal, monday) == ["14:00", "14:30", "15:00", "15:30", "16:00"]


def test_the_weeks_when_only_one_side_has_changed_clocks_shift_the_overlap():
    """America/New_York goes to summer time on 8 March 2026, Europe/London on 29 March:
    in between, New York is 4 hours behind London instead of 5."""
    monday = date(2026, 3, 16)
    new_york_hours = WorkingHours(
        days=frozenset({1, 2, 3, 4, 5}), start=time(9), end=time(17), time_zone="America/New_York"
    )
    proposal = _propose(
        "Europe/London",
        monday,
        {
            "me@x.test": Availability(busy=[]),
            "ny@x.test": Availability(busy=[], working_hours=new_york_hours),
        },
    )
    assert _starts(proposal, monday)[0] == "13:00"


def test_london_spring_forward_keeps_local_half_hours_and_skips_the_missing_hour():
    """Sunday 29 March 2026: 01:00 GMT becomes 02:00 BST; 01:00-01:59 does not exist."""
    sunday = date(2026, 3, 29)
    starts = [
        start.strftime("%H:%M %Z") for start in local_starts(sunday, LONDON, timedelta(minutes=30))
    ]
    assert "01:00 GMT" not in starts and "01:30 GMT" not in starts
    assert starts[:3] == ["00:00 GMT", "00:30 GMT", "02:00 BST"]
    assert len(starts) == 46
    all_week = WorkingHours(
        days=frozenset(range(1, 8)), start=time(0), end=time(0), time_zone="Europe/London"
    )
    proposal = _propose(
        "Europe/London", sunday, {"me@x.test": Availability(busy=[], working_hours=all_week)}
    )
    slots = proposal.days[sunday]
    # 00:30 GMT + 1 hour is 02:30 BST: an hour of real time, whatever the wall clock says.
    assert [slot.end.strftime("%H:%M") for slot in slots[:2]] == ["02:00", "02:30"]
    assert all(slot.end.astimezone(UTC) - slot.start.astimezone(UTC) == HOUR for slot in slots)


def test_london_fall_back_offers_the_repeated_hour_twice():
    """Sunday 25 October 2026: 02:00 BST becomes 01:00 GMT; 01:00-01:59 happens twice."""
    sunday = date(2026, 10, 25)
    starts = [
        start.strftime("%H:%M %Z") for start in local_starts(sunday, LONDON, timedelta(minutes=30))
    ]
    assert starts[1:6] == ["00:30 BST", "01:00 BST", "01:30 BST", "01:00 GMT", "01:30 GMT"]
    assert len(starts) == 50


def test_working_hours_hold_in_local_time_on_both_sides_of_a_clock_change():
    """The week of London's autumn change: 09:00 local is 08:00 UTC on Friday 23 October
    and 09:00 UTC on Monday 26 October. Busy 08:00-09:00 UTC on both days blocks 09:00-10:00
    local on Friday and 08:00-09:00 local on Monday."""
    friday, monday = date(2026, 10, 23), date(2026, 10, 26)
    busy = [
        (datetime(2026, 10, 23, 8, tzinfo=UTC), datetime(2026, 10, 23, 9, tzinfo=UTC)),
        (datetime(2026, 10, 26, 8, tzinfo=UTC), datetime(2026, 10, 26, 9, tzinfo=UTC)),
    ]
    proposal = _propose(
        "Europe/London", friday, {"me@x.test": Availability(busy=busy)}, last=monday
    )
    assert _starts(proposal, friday)[0] == "10:00"
    assert _starts(proposal, monday)[0] == "09:00"
    assert proposal.days[monday][0].start.astimezone(UTC).hour == 9


def test_new_york_organiser_across_its_spring_change():
    """America/New_York: Friday 6 March 2026 is EST (UTC-5), Monday 9 March EDT (UTC-4)."""
    friday, monday = date(2026, 3, 6), date(2026, 3, 9)
    proposal = _propose(
        "America/New_York", friday, {"me@x.test": Availability(busy=[])}, last=monday
    )
    assert proposal.days[friday][0].start.astimezone(UTC).hour == 14
    assert proposal.days[monday][0].start.astimezone(UTC).hour == 13
    assert set(proposal.days) == {friday, monday}
    assert all(slot.start.tzinfo == NEW_YORK for slot in proposal.days[monday])


def test_a_london_colleague_in_the_week_new_york_falls_back():
    """New York returns to standard time on 1 November 2026, London on 25 October: in the
    week of 26 October London is 4 hours ahead, so London's 17:00 is 13:00 in New York."""
    monday = date(2026, 10, 26)
    london_hours = WorkingHours(
        days=frozenset({1, 2, 3, 4, 5}), start=time(9), end=time(17), time_zone="Europe/London"
    )
    proposal = _propose(
        "America/New_York",
        monday,
        {
            "me@x.test": Availability(busy=[]),
            "uk@x.test": Availability(busy=[], working_hours=london_hours),
        },
    )
    assert _starts(proposal, monday) == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "12:00",
    ]


def test_an_unreadable_calendar_is_reported_and_does_not_block():
    monday = date(2026, 6, 8)
    proposal = _propose(
        "Europe/London",
        monday,
        {
            "me@x.test": Availability(busy=[]),
            "guest@elsewhere.test": Availability(busy=[], error="notFound"),
        },
    )
    assert proposal.unknown == {"guest@elsewhere.test": "notFound"}
    assert len(proposal.days[monday]) == 15
