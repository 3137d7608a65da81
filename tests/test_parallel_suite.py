"""The suite runs in parallel processes (pytest-xdist) that share one Redis in CI: one
worker's fresh start must never wipe or read another's cache keys."""

import pytest
from django.conf import settings

from core.testing import ProcessRedisCache


@pytest.mark.skipif(not settings.CACHE_URL, reason="the cache is in-process without CACHE_URL")
def test_clearing_one_workers_cache_keeps_the_other_workers_keys():
    mine, theirs = (
        ProcessRedisCache(settings.CACHE_URL, {"KEY_PREFIX": f"suite-check-{name}"})
        for name in ("mine", "theirs")
    )
    mine.set("login_failed:127.0.0.1", 5)
    theirs.set("login_failed:127.0.0.1", 2)

    mine.clear()

    assert mine.get("login_failed:127.0.0.1") is None
    assert theirs.get("login_failed:127.0.0.1") == 2
    theirs.clear()
