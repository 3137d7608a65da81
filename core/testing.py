"""Stand-ins that config/settings/test.py plugs into settings; production never names them."""

from django.core.cache.backends.redis import RedisCache

# The delays the code under test asked to wait, in order; the `slept` fixture empties it.
SLEPT: list[float] = []


def record_sleep(seconds: float) -> None:
    """MAILSYNC_SLEEP under test: a retry waits on no real clock, and tests can assert the
    delay that was asked for (a provider's Retry-After, our backoff)."""
    SLEPT.append(seconds)


class ProcessRedisCache(RedisCache):
    """The Redis cache for one test process. Parallel workers (pytest-xdist) and parallel
    CI runs share one Redis database, so each process writes under its own KEY_PREFIX and
    `clear()` deletes only those keys instead of Django's FLUSHDB, which would wipe the
    other workers' rate-limit counters in the middle of their tests."""

    def clear(self) -> None:
        # Django's Redis backend keeps its client behind `_cache`; this is its one user.
        client = self._cache.get_client(None, write=True)
        keys = list(client.scan_iter(match=f"{self.key_prefix}:*"))
        if keys:
            client.delete(*keys)
