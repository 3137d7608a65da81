"""Mail sync's Prometheus metrics (core/metrics.py says how /metrics serves them).

Counted where the rounds run (Celery workers), by `record_round` from the round's log
line: rounds by provider and status, provider requests, retries and quota units by
provider. They
reach /metrics only in multiprocess mode (PROMETHEUS_MULTIPROC_DIR shared by web and
workers); otherwise each worker keeps them to itself.

Read from the database at scrape time (`MailboxStateCollector`): how many mailboxes are
in each sync health state, and the longest wait since a mailbox last synced, per
provider. They need no worker at all, so they are right in every set-up.

Labels are providers, states and statuses only: never an address, a name, a subject or a
mailbox id.
"""

from collections import Counter as Tally
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from mailsync.health import HealthState, mailbox_health
from mailsync.models import MailboxConnection
from mailsync.policy import mailbox_status

SYNC_ROUNDS = Counter(
    "threadline_sync_rounds",
    "Sync rounds run, by provider and outcome (status ok or failed).",
    ["provider", "status"],
)
PROVIDER_REQUESTS = Counter(
    "threadline_provider_requests",
    "Requests made to the provider's mail API during sync rounds, each try counted.",
    ["provider"],
)
PROVIDER_QUOTA_UNITS = Counter(
    "threadline_provider_quota_units",
    "Provider quota spent by sync rounds: Gmail's units, Graph's requests (batch parts each).",
    ["provider"],
)
PROVIDER_RETRIES = Counter(
    "threadline_provider_retries",
    "Tries of a provider request after a temporary error, during sync rounds.",
    ["provider"],
)


def record_round(
    *, provider: str, status: str, requests: int, retries: int, quota_units: int
) -> None:
    SYNC_ROUNDS.labels(provider=provider, status=status).inc()
    PROVIDER_REQUESTS.labels(provider=provider).inc(requests)
    PROVIDER_RETRIES.labels(provider=provider).inc(retries)
    PROVIDER_QUOTA_UNITS.labels(provider=provider).inc(quota_units)


class MailboxStateCollector:
    """Mailboxes by provider and health state (the Sync health page's rule, for every
    organisation at once), and per provider the longest a readable mailbox has waited
    since its last successful sync (or since it was authorized, before the first)."""

    def describe(self) -> list[Metric]:
        # Nothing to describe ahead: registering must not query the database.
        return []

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "threadline_mailboxes",
            "Connected mailboxes by provider and sync health state.",
            labels=["provider", "state"],
        )
        lag = GaugeMetricFamily(
            "threadline_mailbox_oldest_sync_lag_seconds",
            "Per provider, the longest time since a readable mailbox last synced "
            "(since its authorization if it never did).",
            labels=["provider"],
        )
        now = timezone.now()
        counts: Tally[tuple[str, HealthState]] = Tally()
        oldest: dict[str, float] = {}
        mailboxes = MailboxConnection.objects.exclude(
            state=MailboxConnection.State.DISCONNECTED
        ).select_related("user", "organisation")
        for mailbox in mailboxes.iterator(chunk_size=500):
            counts[mailbox.provider, mailbox_health(mailbox, now=now).state] += 1
            if mailbox_status(mailbox).may_read:
                since = mailbox.last_synced_at or mailbox.authorized_at
                waited = (now - since).total_seconds()
                oldest[mailbox.provider] = max(oldest.get(mailbox.provider, 0.0), waited)
        for provider in MailboxConnection.Provider.values:
            # Every state of every provider, zeros included: a state that empties shows 0
            # instead of vanishing (and an alert on it would otherwise never resolve).
            for state in HealthState:
                states.add_metric([provider, state.value], counts[provider, state])
            if provider in oldest:
                lag.add_metric([provider], oldest[provider])
        yield states
        yield lag
