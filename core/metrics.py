"""Prometheus metrics at /metrics: who may scrape them, and the text they are given.

Three kinds of metric, because web and workers are separate processes (gunicorn workers,
Celery workers) and a counter lives in the memory of the process that increments it:

- Request and database metrics (django-prometheus's middleware and database engines) and
  the inbound outcome counter (inbound/metrics.py) are incremented in the web process that
  answers the scrape, or in its sibling gunicorn workers.
- Sync rounds, provider requests, retries and quota units (mailsync/metrics.py) are
  incremented where the rounds run: in Celery workers, never in the web process.
- The state of the mailboxes and the queues are read at scrape time, from the database and
  the broker, by collectors the apps register here (`register_scrape_time_collector`):
  they are right whichever process answers, and cost a few queries per scrape.

Without PROMETHEUS_MULTIPROC_DIR each process exposes only its own counters: fine for
`runserver` and tests, but a gunicorn worker would show its own requests only and the
workers' sync counters not at all. With PROMETHEUS_MULTIPROC_DIR set (the same empty,
writable directory for web and workers of one machine, emptied before they start: see
README, "Metrics"), prometheus-client writes every process's counters to files there, and
this view adds them up with `MultiProcessCollector`. Workers on another machine write to
that machine's directory, which this web process cannot read: their sync counters are
then scraped nowhere, while the scrape-time gauges stay complete. Every metric kept in
those files is a counter or a histogram (django-prometheus's migration gauges are off), so
gunicorn needs no `child_exit` hook to mark dead workers' gauges.
"""

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from celery import current_app
from django.conf import settings
from django.http import HttpRequest
from kombu.exceptions import ChannelError
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
# A scrape waits this long at most for the broker (as /healthz does).
BROKER_TIMEOUT_SECONDS = 2.0

_SCRAPE_TIME_COLLECTORS: list[Collector] = []


def register_scrape_time_collector(collector: Collector) -> None:
    """A collector that reads shared state (database, broker) when /metrics is scraped.
    Kept out of prometheus-client's global registry, so that nothing else (a test, a
    library) runs its queries by reading that registry."""
    # One of each kind, however many times an app's ready() runs.
    if not any(type(known) is type(collector) for known in _SCRAPE_TIME_COLLECTORS):
        _SCRAPE_TIME_COLLECTORS.append(collector)


def multiprocess_mode() -> bool:
    # prometheus-client decides at import time from the same variable.
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def scrape_allowed(request: HttpRequest) -> bool:
    """A bearer token equal to METRICS_TOKEN, or a client in METRICS_ALLOWED_NETWORKS.
    The client is the direct peer (REMOTE_ADDR): behind a reverse proxy that is the proxy,
    so list only the scraper's own network, never the proxies' (use the token instead)."""
    token: str = settings.METRICS_TOKEN
    if token:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            offered.strip().encode(), token.encode()
        ):
            return True
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = (
        settings.METRICS_ALLOWED_NETWORKS
    )
    if networks:
        try:
            client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(client in network for network in networks)
    return False


def _registries() -> Iterable[CollectorRegistry]:
    if multiprocess_mode():
        every_process = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_process)
        yield every_process
    else:
        yield REGISTRY
    scrape_time = CollectorRegistry(auto_describe=False)
    for collector in _SCRAPE_TIME_COLLECTORS:
        scrape_time.register(collector)
    yield scrape_time


def exposition() -> bytes:
    """Every metric in Prometheus's text format. Two registries, one after the other:
    their metric names differ, so the concatenation is one valid exposition."""
    return b"".join(generate_latest(registry) for registry in _registries())


class QueueDepthCollector:
    """Messages waiting in each of Celery's queues, asked of the broker at scrape time.
    Only for the brokers where that is one cheap call per queue, Redis (a list length) and
    SQLAlchemy (a count): other transports are left out rather than guessed at."""

    # kombu's driver types: "sql" is its SQLAlchemy transport (the embedded broker).
    TRANSPORTS = ("redis", "sql")

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with current_app.connection_for_read(
            settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS
        ) as broker:
            if broker.transport.driver_type not in self.TRANSPORTS:
                return
            depth = GaugeMetricFamily(
                "threadline_queue_depth",
                "Tasks waiting in each Celery queue (not those a worker has taken).",
                labels=["queue"],
            )
            try:
                broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
                channel = broker.default_channel
                for queue in current_app.conf.task_queues or ():
                    depth.add_metric([queue.name], _waiting(channel, queue.name))
            except Exception as error:  # a broker that does not answer: no depth to report
                logger.warning("Queue depth not read: %s", type(error).__name__)
                return
            yield depth


def _waiting(channel: Any, queue: str) -> int:
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except ChannelError:
        # Redis deletes an emptied list, and a passive declare of it answers NOT_FOUND.
        return 0
