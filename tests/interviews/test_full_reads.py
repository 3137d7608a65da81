"""When a calendar sync round reads every tagged event rather than the recent changes."""

from datetime import UTC, datetime, timedelta

from interviews.services import _full_read_due

NOON = datetime(2026, 6, 8, 12, 0, tzinfo=UTC)


def test_the_first_round_reads_everything(settings):
    settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS = 3600
    assert _full_read_due(None, NOON)


def test_later_rounds_in_the_same_period_read_changes_only(settings):
    settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS = 3600
    assert not _full_read_due(NOON + timedelta(minutes=5), NOON + timedelta(minutes=10))


def test_the_first_round_of_a_new_period_reads_everything(settings):
    settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS = 3600
    assert _full_read_due(NOON + timedelta(minutes=55), NOON + timedelta(minutes=61))
    # A long pause (a stopped beat) always ends with a full read.
    assert _full_read_due(NOON, NOON + timedelta(days=3))


def test_zero_reads_everything_every_round(settings):
    settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS = 0
    assert _full_read_due(NOON, NOON + timedelta(seconds=1))
