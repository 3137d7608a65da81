"""Named fixtures for the four roles of one organisation, plus a second organisation whose
records must never show through."""

import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import Role
from tests.factories import CandidateFactory, OrganisationFactory, PostingFactory, UserFactory
from tests.log_leaks import LeakScan


@dataclass
class Team:
    organisation: object
    super_admin: object
    admin: object
    team_member: object
    limited: object
    my_posting: object  # the limited member is on its hiring team
    other_posting: object
    candidate_on_my_posting: object
    candidate_elsewhere: object

    def by_role(self, role: str):
        return {
            "super_admin": self.super_admin,
            "admin": self.admin,
            "team_member": self.team_member,
            "limited": self.limited,
        }[role]


def _make_team(slug: str) -> Team:
    organisation = OrganisationFactory(slug=slug, name=f"{slug.title()} Inc")
    users = {
        role: UserFactory(organisation=organisation, role=role, email=f"{role}@{slug}.test")
        for role in Role.values
    }
    limited = users[Role.LIMITED_TEAM_MEMBER]
    my_posting = PostingFactory(
        organisation=organisation, title="Platform Engineer", hiring_team=[limited]
    )
    other_posting = PostingFactory(organisation=organisation, title="Sales Lead")
    return Team(
        organisation=organisation,
        super_admin=users[Role.SUPER_ADMIN],
        admin=users[Role.ADMIN],
        team_member=users[Role.TEAM_MEMBER],
        limited=limited,
        my_posting=my_posting,
        other_posting=other_posting,
        candidate_on_my_posting=CandidateFactory(
            organisation=organisation,
            full_name="Ada Visible",
            email=f"ada@{slug}-candidates.test",
            postings=[my_posting],
        ),
        candidate_elsewhere=CandidateFactory(
            organisation=organisation,
            full_name="Grace Hidden",
            email=f"grace@{slug}-candidates.test",
            postings=[other_posting],
        ),
    )


@pytest.fixture
def team(db) -> Team:
    return _make_team("acme")


@pytest.fixture
def other_team(db) -> Team:
    return _make_team("globex")


@pytest.fixture
def client_for():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def log_leak_scan() -> Iterator[LeakScan]:
    """Every test, in every xdist worker: no log record may carry an address or a subject
    of the demo's or the factories' data (tests/log_leaks.py). Checked per test, so the
    test that logged it is the one that fails."""
    scan = LeakScan()
    root = logging.getLogger()
    root.addHandler(scan)
    try:
        yield scan
    finally:
        root.removeHandler(scan)
    if scan.leaks:
        pytest.fail(
            "Private data in the logs (log ids instead):\n" + "\n".join(scan.leaks[:10]),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def attachment_files(settings):
    """Each test's attachments in a directory of its own, removed after it: rows roll back
    with the test's transaction, files would not. The directory, as a Path."""
    from config.settings.base import attachment_storage

    settings.ATTACHMENT_STORAGE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(dir=settings.ATTACHMENT_STORAGE_DIR))
    settings.ATTACHMENT_STORAGE_DIR = directory  # for the commands a test starts
    settings.STORAGES = {**settings.STORAGES, "attachments": attachment_storage("", directory)}
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def slept() -> list[float]:
    """The delays retries asked for in this test (test settings record them, no one waits)."""
    from core.testing import SLEPT

    SLEPT.clear()
    return SLEPT


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, with Nagle's algorithm off (tests/tls_server.py)."""
    import os

    from pytest_django.live_server_helper import LiveServer

    from tests.tls_server import NoDelayServer

    address = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    server = LiveServer(address, start=False)
    server.thread.server_class = NoDelayServer
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_live_server(django_db_setup, django_db_blocker):
    """The app over HTTPS (for MSAL, which insists on an https authority), with the
    sandbox's local CA that development settings already point REQUESTS_CA_BUNDLE at.
    Tests that use it also need `transactional_db`."""
    from django.conf import settings

    from tests.tls_server import TlsLiveServer

    with django_db_blocker.unblock():
        server = TlsLiveServer(settings.SANDBOX_TLS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3 server (moto, server mode, loopback), one per test module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    """A new bucket, and the attachments storage pointed at it as production settings
    would point it with ATTACHMENT_STORAGE_BUCKET and ATTACHMENT_STORAGE_ENDPOINT_URL.
    The boto3 client, to look at what is stored (tests/attachment_bucket.py)."""
    import boto3

    from config.settings.base import attachment_storage
    from tests.attachment_bucket import BUCKET

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ATTACHMENT_STORAGE_ENDPOINT_URL": s3_endpoint,
        "ATTACHMENT_STORAGE_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    in_bucket = attachment_storage(BUCKET, settings.ATTACHMENT_STORAGE_DIR)
    settings.STORAGES = {**settings.STORAGES, "attachments": in_bucket}
    yield s3
    for stored in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=stored["Key"])
    s3.delete_bucket(Bucket=BUCKET)
