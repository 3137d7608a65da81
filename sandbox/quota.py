"""Per-mailbox quota over a rolling window (Gmail: a minute of units; Graph: ten minutes of
requests), kept in the memory of the serving process.

The sandbox is served by one process (runserver, or the live server in tests), which is
the process that must enforce the limit, so in-memory state is exact and costs no database
write per call. A multi-process server would enforce the limit per process.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Hashable

from django.conf import settings

WINDOW_SECONDS = 60.0
DEFAULT_UNITS_PER_MINUTE = 15_000

_lock = threading.Lock()
_windows: dict[Hashable, deque[tuple[float, int]]] = {}
_totals: dict[Hashable, int] = {}


def limit_for(per_mailbox: int | None) -> int:
    if per_mailbox:
        return per_mailbox
    return int(getattr(settings, "SANDBOX_GOOGLE_QUOTA_PER_MINUTE", DEFAULT_UNITS_PER_MINUTE))


def charge(
    key: Hashable,
    units: int,
    limit: int,
    now: float | None = None,
    window_seconds: float = WINDOW_SECONDS,
) -> float | None:
    """Charge `units` against `key`'s rolling window. Returns None when charged, otherwise
    the seconds until enough earlier usage leaves the window for this call to fit. A key
    must always be charged with the same window length."""
    now = time.monotonic() if now is None else now
    with _lock:
        window = _windows.setdefault(key, deque())
        total = _totals.get(key, 0)
        while window and window[0][0] <= now - window_seconds:
            total -= window.popleft()[1]
        if total + units > limit:
            _totals[key] = total
            needed = total + units - limit
            freed = 0
            for stamp, spent in window:
                freed += spent
                if freed >= needed:
                    return max(1.0, math.ceil(stamp + window_seconds - now))
            return window_seconds
        window.append((now, units))
        _totals[key] = total + units
        return None


def used(key: int, now: float | None = None) -> int:
    now = time.monotonic() if now is None else now
    with _lock:
        return sum(u for stamp, u in _windows.get(key, ()) if stamp > now - WINDOW_SECONDS)


def forget(mailbox_pk: int) -> None:
    """Drop every window of a mailbox (its Gmail, Calendar and Graph ones)."""
    with _lock:
        for key in (mailbox_pk, ("calendar", mailbox_pk), ("graph", mailbox_pk)):
            _windows.pop(key, None)
            _totals.pop(key, None)


def reset() -> None:
    with _lock:
        _windows.clear()
        _totals.clear()
