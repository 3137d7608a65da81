"""System checks of the deployment that Django's own do not cover."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches, deploy=True)
def shared_cache_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Several processes need one cache between them: what is counted there (failed
    sign-ins, Graph's requests in flight per mailbox) is otherwise counted per process,
    so each process allows the whole limit on its own."""
    if settings.CACHES["default"]["BACKEND"] not in LOCAL_CACHES:
        return []
    return [
        Warning(
            "No shared cache: CACHE_URL is not set.",
            hint=(
                "Set CACHE_URL (e.g. redis://redis.internal:6379/1). Without it the sign-in "
                "limits and the bound of MAILSYNC_GRAPH_CONCURRENT_REQUESTS per mailbox "
                "hold within each process only, so N processes allow N times as much."
            ),
            id="threadline.W001",
        )
    ]
