"""Stand-ins that config/settings/test.py plugs into settings; production never names them."""

# The delays the code under test asked to wait, in order; the `slept` fixture empties it.
SLEPT: list[float] = []


def record_sleep(seconds: float) -> None:
    """MAILSYNC_SLEEP under test: a retry waits on no real clock, and tests can assert the
    delay that was asked for (a provider's Retry-After, our backoff)."""
    SLEPT.append(seconds)
