"""Per-mailbox quota over a rolling minute, kept in the memory of the serving process.

The sandbox is served by one process (runserver, or the live server in tests), which is
the process that must enforce the limit, so in-memory state is exact and costs no database
write per call. A multi-process server would enforce the limit per process.
"""

import math
import threading
import time
from collections import deque

from django.conf import settings

WINDOW_SECONDS = 60.0
DEFAULT_UNITS_PER_MINUTE = 15_000

_lock = threading.Lock()
_windows: dict[int, deque[tuple[float, int]]] = {}
_totals: dict[int, int] = {}


def limit_for(per_mailbox: int | None) -> int:
    if per_mailbox:
        return per_mailbox
    return int(getattr(settings, "SANDBOX_GOOGLE_QUOTA_PER_MINUTE", DEFAULT_UNITS_PER_MINUTE))


def charge(key: int, units: int, limit: int, now: float | None = None) -> float | None:
    """Charge `units` against `key`'s rolling minute. Returns None when charged, otherwise
    the seconds until enough earlier usage leaves the window for this call to fit."""
    now = time.monotonic() if now is None else now
    with _lock:
        window = _windows.setdefault(key, deque())
        total = _totals.get(key, 0)
        while window and window[0][0] <= now - WINDOW_SECONDS:
            total -= window.popleft()[1]
        if total + units > limit:
            _totals[key] = total
            needed = total + units - limit
            freed = 0
            for stamp, spent in window:
                freed += spent
                if freed >= needed:
                    return max(1.0, math.ceil(stamp + WINDOW_SECONDS - now))
            return WINDOW_SECONDS
        window.append((now, units))
        _totals[key] = total + units
        return None


def used(key: int, now: float | None = None) -> int:
    now = time.monotonic() if now is None else now
    with _lock:
        return sum(u for stamp, u in _windows.get(key, ()) if stamp > now - WINDOW_SECONDS)


def forget(key: int) -> None:
    with _lock:
        _windows.pop(key, None)
        _totals.pop(key, None)


def reset() -> None:
    with _lock:
        _windows.clear()
        _totals.clear()
