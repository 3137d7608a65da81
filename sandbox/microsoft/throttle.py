"""Microsoft Graph's Outlook limits per mailbox: at most 10,000 requests in ten minutes and
four requests in flight at once. Both answer 429 with Retry-After, as Graph does.

Kept in the serving process's memory, like the Gmail quota (see sandbox/quota.py): the
live server and runserver are single processes, so the counts are exact.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sandbox import quota
from sandbox.microsoft import errors
from sandbox.models import Mailbox

DEFAULT_PER_TEN_MINUTES = 10_000
DEFAULT_CONCURRENT = 4
TEN_MINUTES = 600.0

_lock = threading.Lock()
_in_flight: dict[int, int] = {}


@contextmanager
def concurrency_slot(mailbox: Mailbox) -> Iterator[None]:
    """Hold one of the mailbox's concurrent-request slots for the duration of a call."""
    limit = mailbox.concurrent_requests or DEFAULT_CONCURRENT
    with _lock:
        if _in_flight.get(mailbox.pk, 0) >= limit:
            raise errors.throttled("Application is over its MailboxConcurrency limit.", 1)
        _in_flight[mailbox.pk] = _in_flight.get(mailbox.pk, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _in_flight[mailbox.pk] -= 1


def charge(mailbox: Mailbox) -> None:
    """Count one request against the mailbox's rolling ten minutes."""
    limit = mailbox.requests_per_ten_minutes or DEFAULT_PER_TEN_MINUTES
    retry_after = quota.charge(("graph", mailbox.pk), 1, limit, window_seconds=TEN_MINUTES)
    if retry_after is not None:
        raise errors.throttled("Application is over its request limit.", int(retry_after))


def reset() -> None:
    with _lock:
        _in_flight.clear()
