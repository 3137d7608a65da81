"""What both provider adapters share about talking HTTP to a mail provider: how a status
becomes a ProviderError, what Retry-After asks for, bounded retries with backoff, batches
whose failed parts alone are retried, and paging. The adapters (gmail.py, graph.py) add only
what their provider does differently."""

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from django.conf import settings
from django.utils.module_loading import import_string

from mailsync.providers.base import CursorExpired, NotFound, ProviderError

logger = logging.getLogger(__name__)
T = TypeVar("T")
# What one part of a batch answers, as the adapter keeps it.
R = TypeVar("R")


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's wait in seconds: delta-seconds or an HTTP date (RFC 9110
    section 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_status(
    status: int,
    message: str,
    *,
    reason: str = "",
    retry_after: float | None = None,
    throttled: bool = False,
) -> ProviderError:
    """The one mapping of an HTTP answer to a ProviderError: 404 is gone; 429, 5xx (and
    what the provider says is a rate limit: `throttled`) are temporary and honour
    Retry-After; 401 asks for re-authorization; anything else is permanent."""
    if status == 404:
        return NotFound(message)
    if status == 429 or status >= 500 or throttled:
        return ProviderError(
            message,
            permanent=False,
            status=status,
            reason="server_error" if status >= 500 else "throttled",
            retry_after=retry_after,
        )
    if status == 401:
        return ProviderError(message, permanent=True, status=401, reason="unauthorized")
    return ProviderError(message, permanent=True, status=status, reason=reason)


def pages(fetch: Callable[[str | None], dict[str, Any]], next_of: str) -> Iterator[dict[str, Any]]:
    """Every page of a listing: `fetch(None)` gives the first, `fetch(token)` the next,
    where `token` is the page's `next_of` field (Gmail's nextPageToken, Graph's
    @odata.nextLink)."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield page
        token = page.get(next_of) or None
        if token is None:
            return


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Truncated exponential backoff with jitter; a provider's Retry-After wins."""
    if retry_after is not None:
        return min(retry_after, settings.MAILSYNC_RETRY_AFTER_MAX)
    ceiling = min(settings.MAILSYNC_BACKOFF_BASE * (2**attempt), settings.MAILSYNC_BACKOFF_MAX)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


@dataclass
class RequestTally:
    """Provider requests made while counting (each try of a call, a batch counted once),
    and the quota units they cost: each try and each part of a batch is charged, in the
    provider's own units (Gmail's per-method units, Graph's requests)."""

    requests: int = 0
    retries: int = 0
    quota_units: int = 0


_tally: ContextVar[RequestTally | None] = ContextVar("provider_request_tally", default=None)


@contextmanager
def requests_counted() -> Iterator[RequestTally]:
    """Count the provider requests made inside the block (for a sync round's log line)."""
    tally = RequestTally()
    reset = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(reset)


def quota_charge(units: int) -> None:
    """Add provider quota units to the current count, if one is being kept."""
    tally = _tally.get()
    if tally is not None:
        tally.quota_units += units


def with_retries(call: Callable[[], T], *, what: str, quota_units: int = 0) -> T:
    """Run `call`, retrying temporary ProviderErrors a bounded number of times. Each try
    costs `quota_units` of the provider's quota (when counting)."""
    attempts = settings.MAILSYNC_MAX_ATTEMPTS
    tally = _tally.get()
    for attempt in range(attempts):
        if tally is not None:
            tally.requests += 1
            tally.retries += attempt > 0
            tally.quota_units += quota_units
        try:
            return call()
        except ProviderError as error:
            if error.permanent or isinstance(error, CursorExpired | NotFound):
                raise
            if attempt + 1 >= attempts:
                raise
            if error.retry_after and error.retry_after > settings.MAILSYNC_RETRY_AFTER_MAX:
                raise  # the provider asks for a longer pause than a sync round should wait
            delay = backoff_delay(attempt, error.retry_after)
            logger.info("%s: %s; retry %d in %.2fs", what, error, attempt + 1, delay)
            # Injected (MAILSYNC_SLEEP), so that tests never wait on a real clock.
            import_string(settings.MAILSYNC_SLEEP)(delay)
    raise AssertionError("unreachable")


def run_batches(
    keys: list[str],
    *,
    size: int,
    run_batch: Callable[[list[str], dict[str, R]], list[ProviderError]],
    what: str,
    quota_units_per_part: int = 0,
) -> dict[str, R]:
    """Run one request per key in provider batches of `size`. `run_batch` fills `results`
    for the parts that succeeded and returns the failures of the others; those parts alone
    are tried again, with backoff, a bounded number of times."""
    results: dict[str, R] = {}
    pending = list(dict.fromkeys(keys))
    while pending:
        chunk, pending = pending[:size], pending[size:]

        def attempt(chunk: list[str] = chunk) -> None:
            todo = [key for key in chunk if key not in results]
            # The batch is one request; the provider charges each of its parts.
            quota_charge(len(todo) * quota_units_per_part)
            failures = run_batch(todo, results)
            if failures:
                permanent = [failure for failure in failures if failure.permanent]
                raise permanent[0] if permanent else max(failures, key=_wait_asked)

        with_retries(attempt, what=what)
    return results


def _wait_asked(failure: ProviderError) -> float:
    return failure.retry_after or 0
