import time
from collections.abc import Callable

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import get_random_string
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from core.metrics import exposition, scrape_allowed

# A load balancer or orchestrator waits this long at most for each part.
BROKER_TIMEOUT_SECONDS = 2.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    # The login limits and the contact suggestions live in the cache: reading back what was
    # written proves more than a ping.
    key, value = f"healthz:{get_random_string(12)}", get_random_string(12)
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not return what was written")
    cache.delete(key)


def _broker() -> None:
    # The URL is read from settings on each check (not from the app's configuration at
    # start-up), so the answer is about the broker the workers are configured to use.
    with current_app.connection_for_write(
        settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS
    ) as broker:
        broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "broker": _broker,
    "cache": _cache,
}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitors: 200 when the database, the Celery broker and the
    cache all answer, else 503 naming each part that failed (the kind of error only: the
    page is public, so no host names or credentials)."""
    checks: dict[str, str] = {}
    failing: list[str] = []
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as error:  # any failure is the answer we report
            checks[name] = f"failing: {type(error).__name__}"
            failing.append(name)
        else:
            checks[name] = f"ok ({(time.monotonic() - started) * 1000:.0f} ms)"
    if failing:
        return JsonResponse({"status": "failing", "failing": failing, "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape (core/metrics.py). A 404 to anyone without the token or outside
    the allowed networks, so the page does not even show it exists."""
    if not scrape_allowed(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
