"""core.slots: at most `limit` holders at once, and a dead holder's slot freed by its TTL.
Run against whichever cache the settings name (locmem, or Redis under CACHE_URL); the
processes test only under Redis, the one cache that processes share."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from core.slots import SlotsBusy, slot_held

# A worker process that takes one slot and then hangs, until it is killed. It shares this
# test process's keys in Redis (the test settings give each process a prefix of its own).
HOLDER = """
import sys, time
import django
from django.conf import settings
settings.CACHES["default"]["KEY_PREFIX"] = sys.argv[1]
django.setup()
from core.slots import slot_held
with slot_held("mailbox", limit=2, seconds=float(sys.argv[2]), wait=0):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_a_caller_finding_every_slot_taken_waits_then_gives_up():
    with (
        slot_held("mailbox", limit=2, seconds=10, wait=0),
        slot_held("mailbox", limit=2, seconds=10, wait=0),
    ):
        started = time.monotonic()
        with pytest.raises(SlotsBusy), slot_held("mailbox", limit=2, seconds=10, wait=0.2):
            pass
        assert 0.2 <= time.monotonic() - started < 2
        # Another name has slots of its own.
        with slot_held("other-mailbox", limit=2, seconds=10, wait=0):
            pass


def test_a_slot_given_back_is_free_at_once():
    with slot_held("mailbox", limit=1, seconds=10, wait=0):
        pass
    with slot_held("mailbox", limit=1, seconds=10, wait=0):
        pass


def test_a_slot_left_by_a_dead_holder_is_free_after_its_ttl():
    # A holder that never gives its slot back: a worker killed in the middle of a request.
    dead = slot_held("mailbox", limit=1, seconds=1, wait=0)
    dead.__enter__()
    with pytest.raises(SlotsBusy), slot_held("mailbox", limit=1, seconds=1, wait=0):
        pass

    started = time.monotonic()
    with slot_held("mailbox", limit=1, seconds=10, wait=5):
        waited = time.monotonic() - started
        # Had it come back to life, the dead holder's give-back leaves the new slot alone.
        dead.__exit__(None, None, None)
        with pytest.raises(SlotsBusy), slot_held("mailbox", limit=1, seconds=1, wait=0):
            pass
    assert waited < 5


@pytest.mark.skipif(not settings.CACHE_URL, reason="the cache is in-process without CACHE_URL")
def test_slots_are_shared_by_processes_and_a_killed_holders_slot_frees_itself():
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    holders = [
        subprocess.Popen(  # noqa: S603 (our own code with fixed arguments)
            [sys.executable, "-c", HOLDER, prefix, "3"],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for holder in holders:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "holding\n"
        with pytest.raises(SlotsBusy), slot_held("mailbox", limit=2, seconds=3, wait=0):
            pass
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=30)

    # Killed in the middle of their "request": nothing gave the slots back but the TTL.
    with (
        slot_held("mailbox", limit=2, seconds=3, wait=10),
        slot_held("mailbox", limit=2, seconds=3, wait=10),
    ):
        pass
