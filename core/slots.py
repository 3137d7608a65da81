"""Slots: at most `limit` holders of one name at a time, in every process sharing the cache.

Like a lease (core/leases.py), a slot runs out by itself, so a crashed holder's slot is
free again after its TTL; unlike a lease it lives in the cache rather than on a row,
because it is taken and given back around single HTTP requests, far too often for a
database write each time.

A slot is only as shared as the cache: with Redis (CACHE_URL) across processes and
machines, with the in-process locmem cache (development, tests without CACHE_URL) only
among the threads of one process.
"""

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

# A waiting caller asks again after a short pause that doubles up to a ceiling, with
# jitter, so that callers who found every slot taken do not all come back at once.
FIRST_PAUSE_SECONDS = 0.02
LONGEST_PAUSE_SECONDS = 0.5


class SlotsBusy(Exception):
    """Every slot stayed taken for as long as the caller would wait."""


def _key(name: str, index: int) -> str:
    return f"slot:{name}:{index}"


def _take(name: str, *, limit: int, seconds: float, token: str) -> str | None:
    """The key of a free slot, now ours for `seconds`, or None when all are taken.
    cache.add is atomic (Redis SET NX; locmem under its lock): two callers never both
    take one slot."""
    for index in range(limit):
        key = _key(name, index)
        if cache.add(key, token, timeout=seconds):
            return key
    return None


def _give_back(key: str, token: str) -> None:
    # Only our own: a slot held past its TTL may already be someone else's. The check and
    # the delete are two calls, so a slot that runs out between them could still be
    # deleted; holders give slots back long before their TTL (which is set well past the
    # longest request), so that would take a request many times slower than its timeout.
    if cache.get(key) == token:
        cache.delete(key)


@contextmanager
def slot_held(name: str, *, limit: int, seconds: float, wait: float) -> Iterator[None]:
    """Hold one of `name`'s `limit` slots for the block. `seconds` is the slot's TTL, which
    frees it if its holder dies: longer than the block can take. Waits at most `wait`
    seconds for a slot, then raises SlotsBusy."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    pause = FIRST_PAUSE_SECONDS
    while (key := _take(name, limit=limit, seconds=seconds, token=token)) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SlotsBusy(f"all {limit} slots of {name} stayed taken for {wait:.0f}s")
        # Polling other holders' slots, not a backoff to inject: real time must pass.
        time.sleep(min(left, random.uniform(pause / 2, pause)))  # noqa: S311 (jitter)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
    try:
        yield
    finally:
        _give_back(key, token)
