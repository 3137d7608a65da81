"""Benchmark: beat's fan-out over many connected Gmail mailboxes, with 1, 2 and 4 workers.

    .venv/bin/python bench/scale.py [--mailboxes 10000] [--workers 1,2,4]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--broker-url redis://127.0.0.1:6379/11]

Each of N recruiters has a connected sandbox Gmail mailbox holding one message Threadline
sent to a candidate of theirs. For each worker count K, every candidate's reply is
delivered into the recruiter's mailbox (its arrival is the sandbox's internal date), K
`celery worker --pool solo` processes start on the sync queue, and beat's fan-out
(`sync_all_mailboxes`) is sent through the broker as beat sends it. The run ends when every
reply is stored. Printed per K: mailboxes synced per minute (N over the seconds from the
fan-out to the last reply stored), duplicate syncs (rounds that found work, beyond one per
mailbox, from the workers' `mailsync.rounds` lines; must be 0), rounds that found the
mailbox busy (another worker's lease), and the lag between a reply's arrival and its
storage (longest and median), each against K=1.

The database is PostgreSQL (several workers write at once; SQLite would serialise them):
the script creates its own next to --database-url's and drops it at the end. The broker is
Redis, on a queue of the run's own. The sandbox is served by gunicorn on a free port.

Setup speed: users, candidates, their addresses and threads, the mailbox connections and
the Email permissions are bulk-created (10,000 of each one by one would outlast the runs).
The connections hold what `mailsync.services.authorization_store` stores (state
CONNECTED, the sandbox's minted tokens, the granted scopes, the cursor at the mailbox's
present, Email in use, the organisation's sync level); the sent message goes through the
sandbox and Threadline's own storage, as a send would leave it. Nothing is extrapolated:
what is printed is what ran. Figures go to docs/benchmarks.md.
"""

import argparse
import email.policy
import email.utils
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage as Mime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mail_sync import _environment, _free_port, _serve  # noqa: E402

BODY = "Thanks, Thursday works for me. " * 20
WORKER_READY_SECONDS = 90


@dataclass
class Recruiter:
    """One connected mailbox and the conversation it holds."""

    connection_id: int
    box_id: int
    address: str
    candidate_address: str
    sent_message_id: str
    subject: str


@dataclass
class Run:
    workers: int
    mailboxes: int
    stored: int = 0
    seconds: float = 0.0
    synced_per_minute: float = 0.0
    ok_rounds: int = 0
    duplicates: int = 0
    busy: int = 0
    # Replies stored more than once (the storage's own guard; must be 0 too).
    stored_twice: int = 0
    lag_max: float = 0.0
    lag_p50: float = 0.0
    delivery_seconds: float = 0.0
    rounds_per_worker: list[int] = field(default_factory=list)


# --- the database -------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _admin(base_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(
        base_url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as db:
        db.execute(statement)


@contextmanager
def own_database(base_url: str) -> Iterator[str]:
    """A database of this run's own on base_url's server; dropped afterwards."""
    if not base_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("--database-url must be PostgreSQL: workers write at the same time")
    name = f"threadline_scale_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(base_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(base_url, name)
    finally:
        from django.db import connections

        connections.close_all()
        _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- setup --------------------------------------------------------------------------------


def set_up(count: int) -> list[Recruiter]:
    """N recruiters of one organisation, each with a connected sandbox mailbox holding
    Threadline's message to their own candidate (stored in Threadline, as a send leaves it)."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import IntegrationPermission, Organisation, Role, User
    from candidates.models import Candidate, CandidateEmail, EmailThread
    from demo.sync_health import _minted
    from mailsync.ingest import message_store
    from mailsync.mime import build_message, parse_message
    from mailsync.models import MailboxConnection, SyncedMessage
    from mailsync.services import sync_level_for
    from mailsync.threadref import new_message_id, thread_ref
    from sandbox import services as sandbox

    organisation = Organisation.objects.create(
        name="Scale Co", slug="scale", email_provider="google"
    )
    unusable = make_password(None)
    users = User.objects.bulk_create(
        User(
            email=f"recruiter{index}@scale.test",
            full_name=f"Recruiter {index}",
            organisation=organisation,
            role=Role.TEAM_MEMBER,
            password=unusable,
        )
        for index in range(count)
    )
    candidates = Candidate.objects.bulk_create(
        Candidate(organisation=organisation, full_name=f"Candidate {index}")
        for index in range(count)
    )
    addresses = [f"candidate{index}@example.com" for index in range(count)]
    CandidateEmail.objects.bulk_create(
        CandidateEmail(
            organisation=organisation, candidate=candidate, address=address, is_primary=True
        )
        for candidate, address in zip(candidates, addresses, strict=True)
    )
    threads = EmailThread.objects.bulk_create(
        EmailThread(
            organisation=organisation,
            candidate=candidate,
            owner=user,
            subject=f"Role {index}",
        )
        for index, (candidate, user) in enumerate(zip(candidates, users, strict=True))
    )
    level = sync_level_for(users[0])
    now = timezone.now()
    connections, sent = [], []
    for index, (user, thread, address) in enumerate(zip(users, threads, addresses, strict=True)):
        box = sandbox.mailbox_create(
            address=user.email, display_name=user.full_name, provider="google"
        )
        raw = build_message(
            from_address=user.email,
            from_name=user.full_name,
            to=[address],
            subject=f"Role {index} at Scale Co",
            body_text="Would Thursday suit you?",
            message_id=new_message_id(thread.pk),
            threadline_ref=thread_ref(thread.pk),
        )
        copy = sandbox.message_insert(mailbox=box, raw=raw, labels=["SENT"])
        # Tokens as Google's consent would give them, the cursor just after our message.
        authorization = _minted(user, box)
        connections.append(
            MailboxConnection(
                user=user,
                organisation=organisation,
                provider="google",
                account_address=authorization.account_address,
                granted_scopes=authorization.granted_scopes,
                sync_level=level,
                credentials=json.dumps(authorization.credentials),
                uses_email=True,
                state=MailboxConnection.State.CONNECTED,
                authorized_at=now,
                cursor=authorization.cursor,
            )
        )
        sent.append((box, copy, raw))
    MailboxConnection.objects.bulk_create(connections)
    IntegrationPermission.objects.bulk_create(
        IntegrationPermission(
            user=user,
            kind=IntegrationPermission.Kind.EMAIL,
            enabled=True,
            state=IntegrationPermission.State.CONNECTED,
            changed_at=now,
        )
        for user in users
    )
    recruiters = []
    for connection, thread, address, (box, copy, raw) in zip(
        connections, threads, addresses, sent, strict=True
    ):
        parsed = parse_message(raw)
        stored = message_store(
            thread=thread,
            parsed=parsed,
            author=connection.user,
            mailbox=connection,
            provider_message_id=copy.provider_id,
            provider_thread_id=copy.thread_id,
        )
        # Our label was put on it when it was sent.
        SyncedMessage.objects.filter(message=stored.message).update(labelled=True)
        recruiters.append(
            Recruiter(
                connection_id=connection.pk,
                box_id=box.pk,
                address=box.address,
                candidate_address=address,
                sent_message_id=parsed.message_id,
                subject=parsed.subject,
            )
        )
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    return recruiters


def _reply(recruiter: Recruiter, round_number: int) -> Mime:
    message = Mime(policy=email.policy.SMTP)
    message["From"] = recruiter.candidate_address
    message["To"] = recruiter.address
    message["Subject"] = f"Re: {recruiter.subject}"
    message["Date"] = email.utils.formatdate()
    message["Message-ID"] = email.utils.make_msgid(f"r{round_number}", domain="example.com")
    message["In-Reply-To"] = recruiter.sent_message_id
    message["References"] = recruiter.sent_message_id
    message.set_content(BODY)
    return message


def deliver_replies(recruiters: Sequence[Recruiter], round_number: int) -> dict[str, datetime]:
    """Each candidate's reply, delivered into the recruiter's mailbox; arrival by digest."""
    from mailsync.threadref import message_id_digest
    from sandbox import services as sandbox
    from sandbox.models import Mailbox

    boxes = Mailbox.objects.in_bulk([recruiter.box_id for recruiter in recruiters])
    arrivals = {}
    for recruiter in recruiters:
        reply = _reply(recruiter, round_number)
        delivered = sandbox.message_deliver(mailbox=boxes[recruiter.box_id], raw=reply.as_bytes())
        arrived = datetime.fromtimestamp(delivered.internal_date / 1000, UTC)
        arrivals[message_id_digest(reply["Message-ID"])] = arrived
    return arrivals


# --- workers ------------------------------------------------------------------------------


@contextmanager
def workers(count: int, env: dict[str, str], logs: Path, queue: str) -> Iterator[list[Path]]:
    """K Celery workers on the sync queue, as production runs them (solo pool, -Q)."""
    celery = str(Path(sys.executable).parent / "celery")
    processes, files = [], []
    for index in range(count):
        log = logs / f"worker-{count}-{index}.log"
        with log.open("w") as output:
            processes.append(
                subprocess.Popen(  # noqa: S603 (our own Celery app)
                    [
                        celery,
                        "-A",
                        "config",
                        "worker",
                        "--pool",
                        "solo",
                        "-Q",
                        f"{queue}.sync",
                        "-n",
                        f"scale{count}-{index}@%h",
                        "-l",
                        "INFO",
                    ],
                    cwd=ROOT,
                    env={**env, "LOG_LEVEL": "INFO", "CELERY_TASK_DEFAULT_QUEUE": queue},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
        files.append(log)
    try:
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while not all(" ready." in log.read_text() for log in files):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit(f"a worker did not start: see {logs}")
            time.sleep(0.2)
        yield files
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


@dataclass
class Rounds:
    ok_by_mailbox: Counter[int]
    logged: int
    tasks_done: int
    per_worker: list[int]


def read_rounds(logs: Sequence[Path]) -> Rounds:
    """Rounds from the workers' `mailsync.rounds` lines, and sync tasks finished. A round
    that finds the mailbox's lease taken returns "busy" without a line, so busy rounds are
    the finished sync tasks less the logged rounds."""
    ok: Counter[int] = Counter()
    logged = done = 0
    per_worker = []
    for log in logs:
        mine = 0
        for line in log.read_text().splitlines():
            if " sync_round mailbox=" in line:
                logged += 1
                mine += 1
                fields = dict(
                    part.split("=", 1) for part in line.split(" sync_round ", 1)[1].split()
                )
                if fields.get("status") == "ok":
                    ok[int(fields["mailbox"])] += 1
            elif "mailsync.tasks.sync_mailbox[" in line and "] succeeded in" in line:
                done += 1
        per_worker.append(mine)
    return Rounds(ok_by_mailbox=ok, logged=logged, tasks_done=done, per_worker=per_worker)


def _wait(condition: Any, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def measure(
    recruiters: Sequence[Recruiter],
    *,
    worker_count: int,
    round_number: int,
    env: dict[str, str],
    logs: Path,
    queue: str,
) -> Run:
    from django.utils import timezone

    from candidates.models import EmailMessage
    from mailsync.tasks import sync_all_mailboxes

    count = len(recruiters)
    run = Run(workers=worker_count, mailboxes=count)
    # Workers first, as in production: a reply's lag is then the delivery of the others
    # and the queue's drain, not a worker's start-up.
    with workers(worker_count, env, logs, queue) as files:
        delivering = time.perf_counter()
        arrivals = deliver_replies(recruiters, round_number)
        run.delivery_seconds = time.perf_counter() - delivering
        stored = EmailMessage.objects.filter(message_id_digest__in=list(arrivals))
        fanned_out = timezone.now()
        sync_all_mailboxes.delay()  # as beat sends it
        # Generous: a round takes well under a second; a stall shows as a short count.
        _wait(lambda: stored.count() >= count, seconds=120 + count * 2)
        # The rest of the queue (rounds with nothing to do, if any) before the workers stop.
        _wait(lambda: read_rounds(files).tasks_done >= count, seconds=60)
    rounds = read_rounds(files)
    rows = list(stored.values_list("message_id_digest", "created_at"))
    times = dict(rows)
    run.stored = len(times)
    run.stored_twice = len(rows) - len(times)
    lags = sorted((times[digest] - arrivals[digest]).total_seconds() for digest in times)
    if times:
        run.seconds = (max(times.values()) - fanned_out).total_seconds()
        run.synced_per_minute = run.stored / run.seconds * 60
        run.lag_max, run.lag_p50 = lags[-1], statistics.median(lags)
    run.ok_rounds = sum(rounds.ok_by_mailbox.values())
    run.duplicates = run.ok_rounds - len(rounds.ok_by_mailbox)
    run.busy = rounds.tasks_done - rounds.logged
    run.rounds_per_worker = rounds.per_worker
    return run


# --- report -------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    return f"×{value / base:.2f}" if base else "-"


def print_table(runs: Sequence[Run]) -> None:
    base = runs[0]
    print(
        f"{'workers':>7}{'mailboxes':>10}{'stored':>8}{'seconds':>9}{'synced/min':>12}"
        f"{'vs 1st':>8}{'dup':>5}{'busy':>6}{'lag max s':>11}{'vs 1st':>8}"
        f"{'lag p50 s':>11}{'vs 1st':>8}  rounds per worker"
    )
    for run in runs:
        speed = _ratio(run.synced_per_minute, base.synced_per_minute)
        lag_max, lag_p50 = _ratio(run.lag_max, base.lag_max), _ratio(run.lag_p50, base.lag_p50)
        print(
            f"{run.workers:>7}{run.mailboxes:>10,}{run.stored:>8,}{run.seconds:>9.1f}"
            f"{run.synced_per_minute:>12,.0f}{speed:>8}{run.duplicates + run.stored_twice:>5}"
            f"{run.busy:>6}{run.lag_max:>11.1f}{lag_max:>8}{run.lag_p50:>11.1f}{lag_p50:>8}  "
            f"{'/'.join(str(n) for n in run.rounds_per_worker)}"
        )


def _summary(runs: Sequence[Run]) -> str:
    first, last = runs[0], runs[-1]
    duplicates = sum(run.duplicates + run.stored_twice for run in runs)
    return (
        f"summary: {first.mailboxes:,} mailboxes; synced/min {first.workers}→{last.workers} "
        f"workers {first.synced_per_minute:,.0f}→{last.synced_per_minute:,.0f} "
        f"({_ratio(last.synced_per_minute, first.synced_per_minute)}); duplicate syncs "
        f"{duplicates}; longest lag {first.lag_max:.1f}s→"
        f"{last.lag_max:.1f}s ({_ratio(last.lag_max, first.lag_max)}); every reply stored: "
        f"{all(run.stored == run.mailboxes for run in runs)}"
    )


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (its database is only used to create and drop the run's own)",
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--sandbox-workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.workers.split(",")]
    if not args.broker_url.startswith("redis://"):
        raise SystemExit("--broker-url must be Redis")

    print(f"machine: {os.cpu_count()} cores; load average at start {_load()}")
    workdir = Path(tempfile.mkdtemp(prefix="threadline-scale-"))
    queue = f"threadline-scale-{uuid.uuid4().hex[:8]}"
    with own_database(args.database_url) as database_url:
        os.environ["DATABASE_URL"] = database_url
        os.environ["CELERY_BROKER_URL"] = args.broker_url
        os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
        port = _free_port()
        env = _environment(workdir, port, _free_port())

        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        recruiters = set_up(args.mailboxes)
        print(
            f"setup: {args.mailboxes:,} connected mailboxes in {time.perf_counter() - started:.1f}s"
            f" (database {database_url.rsplit('/', 1)[1]}, queue {queue}.sync, logs {workdir})"
        )
        server = _serve(env, port, workers=args.sandbox_workers)
        runs = []
        try:
            for round_number, count in enumerate(counts, start=1):
                run = measure(
                    recruiters,
                    worker_count=count,
                    round_number=round_number,
                    env=env,
                    logs=workdir,
                    queue=queue,
                )
                # Each run's figures as soon as it ends: a long run stopped early keeps them.
                print(
                    f"{count} worker(s): {run.stored:,}/{run.mailboxes:,} stored in "
                    f"{run.seconds:.1f}s, {run.synced_per_minute:,.0f} mailboxes/min, "
                    f"duplicates {run.duplicates + run.stored_twice}, busy {run.busy}, lag max "
                    f"{run.lag_max:.1f}s p50 {run.lag_p50:.1f}s (replies delivered in "
                    f"{run.delivery_seconds:.1f}s, the fan-out after); load {_load()}",
                    flush=True,
                )
                runs.append(run)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"load average at end {_load()}")
    print_table(runs)
    print(_summary(runs))
    print("result:", json.dumps([run.__dict__ for run in runs]))
    return runs


if __name__ == "__main__":
    main()
