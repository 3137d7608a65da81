"""The HTTP rules both provider adapters share (mailsync/providers/http.py)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from mailsync.providers.base import NotFound
from mailsync.providers.http import error_for_status, pages, retry_after_seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("7", 7.0), ("soon", None), ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0)],
)
def test_retry_after_is_read_as_seconds_or_a_date(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_as_an_http_date_is_the_wait_until_then():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    assert 25 <= retry_after_seconds(when) <= 30


@pytest.mark.parametrize(
    ("status", "throttled", "permanent", "reason"),
    [
        (429, False, False, "throttled"),
        (503, False, False, "server_error"),
        (403, True, False, "throttled"),
        (401, False, True, "unauthorized"),
        (400, False, True, "badRequest"),
    ],
)
def test_each_status_is_judged_once_for_both_providers(status, throttled, permanent, reason):
    error = error_for_status(
        status, "no", reason="badRequest", retry_after=2.0, throttled=throttled
    )

    assert (error.permanent, error.reason, error.status) == (permanent, reason, status)
    assert error.retry_after == (None if permanent else 2.0)


def test_a_404_means_gone():
    assert isinstance(error_for_status(404, "gone"), NotFound)


def test_pages_follow_the_next_token_until_there_is_none():
    book = {None: {"n": 1, "next": "b"}, "b": {"n": 2, "next": "c"}, "c": {"n": 3}}

    assert [page["n"] for page in pages(book.__getitem__, "next")] == [1, 2, 3]
