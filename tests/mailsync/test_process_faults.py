"""Faults of the machinery rather than the provider, with real processes: a Celery worker
whose PostgreSQL connection is cut mid-round, and a Redis broker that restarts under a
worker with tasks queued. Nothing is lost, nothing is stored twice, and the lease is given
back (a killed worker is in test_mail_failures.py)."""

import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from candidates.models import EmailMessage
from config.celery import app
from mailsync.models import MailboxConnection, SyncedMessage
from mailsync.sending import Draft
from mailsync.services import message_send
from mailsync.tasks import sync_mailbox
from sandbox import services as sandbox
from tests.mailsync.helpers import child_environment

# libpq names the worker's database sessions after this, so the test cuts only the worker's.
WORKER_APPLICATION = "threadline-fault-worker"


def _conversation(world, replies: list[str]) -> MailboxConnection:
    world.connect()
    message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Next steps", body_text="Hello"),
    )
    for text in replies:
        world.reply(world.candidate_box, world.recruiter.email, text)
    return MailboxConnection.objects.get(user=world.recruiter)


@pytest.fixture
def queue() -> Iterator[str]:
    """A default queue of this test's own (sync tasks go to "<it>.sync"), for this process
    and the workers it starts."""
    name = f"threadline-test-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = previous


@contextmanager
def _worker(log: Path, queue: str, **env: str) -> Iterator[subprocess.Popen]:
    """A Celery worker (solo pool, as small as production's per-queue workers)."""
    celery = Path(sys.executable).parent / "celery"
    with log.open("w") as output:
        worker = subprocess.Popen(  # noqa: S603 (our own Celery app)
            [str(celery), "-A", "config", "worker", "--pool", "solo", "-l", "INFO"],
            cwd=settings.BASE_DIR,
            env=child_environment(CELERY_TASK_DEFAULT_QUEUE=queue, **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"Timed out waiting for {what}")


def _inbound() -> list[str]:
    bodies = EmailMessage.objects.filter(direction="inbound").values_list("body_text", flat=True)
    return sorted(body.strip() for body in bodies)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's"
)
def test_a_database_connection_cut_mid_round_is_retried_without_loss_or_duplicates(
    gmail_world, tmp_path, queue
):
    world = gmail_world
    mailbox = _conversation(world, ["First reply", "Second reply", "Third reply"])
    # The round's first call to Gmail takes three seconds: the worker is surely mid-round,
    # holding the lease and an idle database session, when that session is cut.
    sandbox.fault_set(mailbox=world.recruiter_box, count=1, delay=3)
    log = tmp_path / "worker.log"

    with _worker(log, queue, PGAPPNAME=WORKER_APPLICATION):
        sync_mailbox.delay(mailbox.pk)
        _wait_for(
            lambda: MailboxConnection.objects.filter(pk=mailbox.pk).exclude(sync_claim="").exists(),
            seconds=60,
            what="the worker to take the mailbox",
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                [WORKER_APPLICATION],
            )
            (cut,) = cursor.fetchone()
        _wait_for(lambda: len(_inbound()) >= 3, seconds=60, what="the replies")
        _wait_for(
            lambda: (
                not MailboxConnection.objects.filter(pk=mailbox.pk).exclude(sync_claim="").exists()
            ),
            seconds=10,
            what="the lease to be given back",
        )

    assert cut >= 1
    assert _inbound() == ["First reply", "Second reply", "Third reply"]
    assert SyncedMessage.objects.filter(mailbox=mailbox).count() == 4  # the sent one too
    mailbox.refresh_from_db()
    assert mailbox.last_synced_at is not None and mailbox.failing_since is None
    output = log.read_text()
    # Celery's backoff is jittered: the first retry waits 0 or 1 s.
    assert re.search(r"retry: Retry in [01]s: (OperationalError|InterfaceError)", output)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Redis:
    """A redis-server of the test's own, persisting to an append-only file so that what
    was queued is still there after a restart, as a production broker is configured."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is installed with the machine's Redis"
        where = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        durable = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self.process = subprocess.Popen(  # noqa: S603 (the machine's redis-server)
            [server, *where, *durable],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._answers, seconds=10, what="redis-server to start")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()  # a clean shutdown: the append-only file is flushed
        self.process.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def test_queued_tasks_outlive_a_broker_restart_and_the_worker_reconnects(
    gmail_world, tmp_path, queue
):
    world = gmail_world
    mailbox = _conversation(world, ["First reply"])
    broker = _Redis(tmp_path)
    log = tmp_path / "worker.log"

    def queue_a_round() -> None:
        with app.connection_for_write(broker.url) as producer:
            sync_mailbox.apply_async((mailbox.pk,), connection=producer)

    broker.start()
    try:
        # A worker has run (its queues are declared on the broker) and is stopped, as in a
        # deployment; a round queued meanwhile is still there after the broker restarts.
        with _worker(tmp_path / "first-worker.log", queue, CELERY_BROKER_URL=broker.url):
            queue_a_round()
            _wait_for(lambda: _inbound() == ["First reply"], seconds=60, what="the first round")
        world.reply(world.candidate_box, world.recruiter.email, "Second reply")
        queue_a_round()
        broker.stop()
        broker.start()
        with _worker(log, queue, CELERY_BROKER_URL=broker.url) as worker:
            _wait_for(lambda: len(_inbound()) == 2, seconds=60, what="the queued round")
            # The broker goes away under a running worker and comes back: the worker
            # reconnects, and a round queued after that runs.
            broker.stop()
            time.sleep(1)
            broker.start()
            world.reply(world.candidate_box, world.recruiter.email, "Third reply")
            queue_a_round()
            _wait_for(lambda: len(_inbound()) == 3, seconds=60, what="the round after")
            assert worker.poll() is None
    finally:
        if broker.process and broker.process.poll() is None:
            broker.stop()

    assert _inbound() == ["First reply", "Second reply", "Third reply"]
    assert SyncedMessage.objects.filter(mailbox=mailbox).count() == 4  # the sent one too
    assert "Connection to broker lost" in log.read_text()
