"""/metrics as Prometheus scrapes it: a 404 to anyone without the token or outside the
allowed networks; for the scraper, request and database metrics, mailboxes by provider
and sync health state, and inbound outcomes, with no address of anyone in it."""

import ipaddress
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Organisation
from mailsync.models import MailboxConnection
from mailsync.providers import gmail
from mailsync.providers.http import RequestTally
from mailsync.services import _log_round
from mailsync.sync import SyncReport
from tests.factories import MailboxConnectionFactory, OrganisationFactory, UserFactory
from tests.inbound.conftest import routed  # noqa: F401 (a fixture, used by name)

TOKEN = "a-scrape-token-long-enough-to-guess-never"


@pytest.fixture
def scraper(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> str:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        return response.content.decode()

    return scrape


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric family, by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


@pytest.mark.django_db
def test_without_a_token_it_is_not_found(client, settings):
    settings.METRICS_TOKEN = TOKEN

    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_a_wrong_token_is_not_found(client, settings):
    settings.METRICS_TOKEN = TOKEN

    for header in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN):
        assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 404


@pytest.mark.django_db
def test_no_token_configured_means_no_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_a_client_in_an_allowed_network_needs_no_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 404


@pytest.mark.django_db
def test_the_scrape_has_request_and_database_metrics(client, scraper):
    client.get("/healthz")

    text = scraper()

    assert "django_http_requests_before_middlewares_total" in text
    assert "django_http_responses_total_by_status_total" in text
    assert "django_db_execute_total" in text


@pytest.mark.django_db
def test_mailboxes_are_counted_by_provider_and_health_state(scraper):
    now = timezone.now()
    organisation = OrganisationFactory(email_sync_level=Organisation.SyncLevel.FULL)
    google, microsoft = MailboxConnection.Provider.GOOGLE, MailboxConnection.Provider.MICROSOFT

    def mailbox(provider=google, **fields) -> None:
        MailboxConnectionFactory(
            user=UserFactory(organisation=organisation), provider=provider, **fields
        )

    mailbox(last_synced_at=now - timedelta(minutes=1))
    mailbox(last_synced_at=now - timedelta(minutes=2))
    mailbox(failing_since=now - timedelta(hours=1), last_synced_at=now - timedelta(hours=2))
    mailbox(throttled_until=now + timedelta(minutes=10), last_synced_at=now)
    mailbox(sync_claimed_until=now + timedelta(minutes=5), last_synced_at=now)
    mailbox(state=MailboxConnection.State.NEEDS_REAUTHORIZATION)
    mailbox(state=MailboxConnection.State.DISCONNECTED)  # not counted at all
    mailbox(microsoft, last_synced_at=now - timedelta(days=2))  # stale
    mailbox(microsoft, last_synced_at=now - timedelta(minutes=1))

    text = scraper()

    mailboxes = _samples(text, "threadline_mailboxes")
    counted = {labels: value for labels, value in mailboxes.items() if value}
    assert counted == {
        (("provider", "google"), ("state", "healthy")): 2,
        (("provider", "google"), ("state", "failing")): 1,
        (("provider", "google"), ("state", "throttled")): 1,
        (("provider", "google"), ("state", "syncing")): 1,
        (("provider", "google"), ("state", "needs_reauthorization")): 1,
        (("provider", "microsoft"), ("state", "stale")): 1,
        (("provider", "microsoft"), ("state", "healthy")): 1,
    }
    # Every state of both providers is there, the empty ones at zero.
    assert len(mailboxes) == 2 * 7
    lags = _samples(text, "threadline_mailbox_oldest_sync_lag_seconds")
    assert 2 * 3600 <= lags[(("provider", "google"),)] < 2 * 3600 + 60
    assert 2 * 86400 <= lags[(("provider", "microsoft"),)] < 2 * 86400 + 60
    for connection in MailboxConnection.objects.select_related("user"):
        assert connection.account_address not in text
        assert connection.user.email not in text
    assert "@" not in text


@pytest.mark.django_db
def test_queue_depth_of_the_embedded_broker(scraper):
    from celery import current_app

    text = scraper()

    depths = _samples(text, "threadline_queue_depth")
    assert {dict(labels)["queue"] for labels in depths} == {
        queue.name for queue in current_app.conf.task_queues
    }
    assert all(value >= 0 for value in depths.values())


def test_an_inbound_post_counts_its_outcome(routed, scraper):  # noqa: F811 (the fixture)
    def stored(text: str) -> float:
        return _samples(text, "threadline_inbound_messages_total").get(
            (("outcome", "stored"),), 0.0
        )

    def refused(text: str) -> float:
        return _samples(text, "threadline_inbound_messages_total").get(
            (("outcome", "refused"),), 0.0
        )

    before = scraper()

    assert routed.post(routed.candidate_reply()).json()["status"] == "stored"
    # A bad signature: refused by the webhook before the service sees it.
    assert routed.post(routed.candidate_reply(), signature="0" * 64).status_code == 403

    after = scraper()
    assert stored(after) == stored(before) + 1
    assert refused(after) == refused(before) + 1
    assert routed.candidate_address not in after
    assert routed.recruiter.email not in after
    assert routed.thread.subject not in after


@pytest.mark.django_db
def test_a_sync_round_counts_its_requests_by_provider(scraper):
    connection = MailboxConnectionFactory(provider=MailboxConnection.Provider.MICROSOFT)
    labels = (("provider", "microsoft"),)
    before = scraper()

    tally = RequestTally(requests=7, retries=2, quota_units=31)
    _log_round(connection, SyncReport(status="ok"), tally, 0.5)

    after = scraper()
    rounds = (("provider", "microsoft"), ("status", "ok"))
    assert _samples(after, "threadline_sync_rounds_total")[rounds] == (
        _samples(before, "threadline_sync_rounds_total").get(rounds, 0) + 1
    )
    for name, added in (
        ("threadline_provider_requests_total", 7),
        ("threadline_provider_retries_total", 2),
        ("threadline_provider_quota_units_total", 31),
    ):
        assert _samples(after, name)[labels] == _samples(before, name).get(labels, 0) + added


# A worker's process records a round; another process (the web's) scrapes: with
# PROMETHEUS_MULTIPROC_DIR shared, the scrape adds up both processes' counters.
_WORKER = """
import django
django.setup()
from inbound.metrics import record_outcome
from mailsync.metrics import record_round
record_round(provider="google", status="ok", requests=5, retries=1, quota_units=40)
record_round(provider="google", status="failed", requests=2, retries=0, quota_units=3)
record_outcome("dropped")
"""
_WEB = """
import django
django.setup()
from core import metrics
metrics._SCRAPE_TIME_COLLECTORS.clear()  # this process has no migrated database to read
print(metrics.exposition().decode())
"""


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own interpreter with a fixed script)
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _python(script: str, env: dict[str, str]) -> str:
    result = _run(script, env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_malformed_allowed_network_stops_start_up():
    # Host bits set: a typo for 10.0.0.0/8 or for 10.0.0.1/32, not to be guessed at.
    result = _run("import django; django.setup()", {"METRICS_ALLOWED_NETWORKS": "10.0.0.1/8"})

    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS" in result.stderr


def test_multiprocess_mode_adds_up_the_workers_counters(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    _python(_WORKER, env)
    _python(_WORKER, env)
    text = _python(_WEB, env)

    google = (("provider", "google"),)
    assert _samples(text, "threadline_provider_requests_total")[google] == 14
    assert _samples(text, "threadline_provider_retries_total")[google] == 2
    assert _samples(text, "threadline_provider_quota_units_total")[google] == 86
    rounds = _samples(text, "threadline_sync_rounds_total")
    assert rounds[(("provider", "google"), ("status", "ok"))] == 2
    assert rounds[(("provider", "google"), ("status", "failed"))] == 2
    outcomes = _samples(text, "threadline_inbound_messages_total")
    assert outcomes[(("outcome", "dropped"),)] == 2


def test_every_gmail_method_we_call_has_its_quota_cost():
    source = Path(gmail.__file__).read_text()
    methods = {what.partition("(")[0] for what in re.findall(r'what="([^"]+)"', source)}

    assert methods
    assert methods <= set(gmail.GMAIL_QUOTA_UNITS)
    assert gmail.gmail_quota_units("messages.get(raw)") == 5
