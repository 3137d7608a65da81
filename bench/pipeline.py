"""Benchmark: Threadline's local mail pipeline (parse, match, encrypt, store) against
django-mailbox 4.10.1 on the same corpus, interleaved, each round in its own processes on
its own database.

    .venv/bin/python bench/pipeline.py --peer-python var/bench-venv/bin/python \
        [--messages 2000] [--rounds 3] [--database-url postgresql://...]

The corpus is the shared one (../shared/peers/django-mailbox/corpus.py beside the
repository). Threadline's side is "Import candidate email" as the worker runs it
(`mailsync.manual_import.import_job_advance`: the provider's search, the fetch in
batches, parsing, matching each message to its thread, storing, progress saves and
labelling), one job per candidate, for the mailbox's owner. Only the provider is local:
`FilesSession` serves the corpus files as the mailbox, as the peer reads them from disk.

Printed per round: messages/second and CPU-seconds of each side; then, once, the parse
floor (the standard library's parse of the same files, what the peer's own parse costs) and
our parse alone; last line `ratio: X.XX`, Threadline / peer, median of the rounds.
"""

import argparse
import email.parser
import email.policy
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# shared/ lies beside the repository (THREADLINE_SHARED_DIR: elsewhere, e.g. a worktree).
SHARED_DIR = Path(os.environ.get("THREADLINE_SHARED_DIR", ROOT.parent / "shared"))
PEER_DIR = SHARED_DIR / "peers" / "django-mailbox"
RECRUITER = "recruiter@demo.test"


def corpus_ensure(directory: Path, messages: int) -> list[Path]:
    files = sorted(directory.glob("*.eml"))
    if len(files) != messages:
        for stale in files:
            stale.unlink()
        subprocess.run(  # noqa: S603 (the shared corpus generator)
            [sys.executable, str(PEER_DIR / "corpus.py"), str(messages), str(directory)],
            check=True,
        )
        files = sorted(directory.glob("*.eml"))
    return files


# --- Threadline's side, in a process of its own ------------------------------------------


def _local_session_class() -> type:
    """A MailboxSession over a folder of .eml files (built after Django is set up)."""
    from mailsync.providers.base import (
        MailboxSession,
        MessageRef,
        QuotaCosts,
        RawMessage,
        SearchPage,
    )

    class FilesSession(MailboxSession):
        """The corpus as the recruiter's mailbox: a search by address lists the messages
        from or to it (one page), a fetch reads the files. Every other call is not made
        by an import."""

        def __init__(self, files: list[Path]) -> None:
            headers = email.parser.BytesHeaderParser(policy=email.policy.compat32)
            self.raw: dict[str, bytes] = {}
            self.by_address: dict[str, list[MessageRef]] = {}
            for path in files:
                raw = path.read_bytes()
                head = headers.parsebytes(raw)
                # The provider's conversation: the first message of the References chain.
                chain = (head.get("References") or head.get("Message-ID") or "").split()
                ref = MessageRef(id=path.stem, thread_id=chain[0] if chain else path.stem)
                self.raw[ref.id] = raw
                for value in (head.get("From", ""), head.get("To", "")):
                    for address in re.findall(r"[\w.+-]+@[\w.-]+", value):
                        self.by_address.setdefault(address.lower(), []).append(ref)

        def search_page(self, address: str, page_token: str = "") -> SearchPage:
            return SearchPage(refs=list(reversed(self.by_address.get(address, []))))

        def raw_messages(self, refs: list[MessageRef]) -> dict[str, RawMessage]:
            return {ref.id: RawMessage(raw=self.raw[ref.id], sent=ref.sent) for ref in refs}

        def quota_costs(self) -> QuotaCosts:
            return QuotaCosts(
                search_page=0, fetch_per_message=0, label_per_message=0, per_second=1.0,
                fetch_batch=100,
            )  # fmt: skip

        def ensure_label(self, name: str) -> str:
            return "threadline"

        def apply_label(self, label_id: str, message_ids: list[str]) -> None:
            return None

        def __getattr__(self, name: str) -> Any:
            raise NotImplementedError(name)

    for name in list(FilesSession.__abstractmethods__):
        if not hasattr(FilesSession, name) or name in MailboxSession.__dict__:
            setattr(FilesSession, name, _not_made(name))
    FilesSession.__abstractmethods__ = frozenset()
    return FilesSession


def _not_made(name: str) -> Any:
    def call(*args: object, **kwargs: object) -> None:
        raise NotImplementedError(f"An import does not call {name}.")

    return call


def threadline_run(corpus: Path, database_url: str, workdir: Path) -> dict:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.development",
            "THREADLINE_VAR_DIR": str(workdir),
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from accounts.models import Organisation, Role, User
    from candidates.models import Candidate, CandidateEmail, EmailMessage
    from mailsync.manual_import import IMPORT_LEASE, import_job_advance
    from mailsync.models import ImportJob, MailboxConnection

    files = sorted(corpus.glob("*.eml"))
    session = _local_session_class()(files)
    organisation = Organisation.objects.create(name="Bench Co", slug="bench")
    user = User.objects.create_user(
        RECRUITER, "x", organisation=organisation, role=Role.TEAM_MEMBER, full_name="Riley"
    )
    mailbox = MailboxConnection.objects.create(
        user=user, organisation=organisation, provider="google", account_address=RECRUITER
    )
    jobs = []
    for address in sorted(a for a in session.by_address if a != RECRUITER):
        candidate = Candidate.objects.create(organisation=organisation, full_name=address)
        CandidateEmail.objects.create(
            organisation=organisation, candidate=candidate, address=address, is_primary=True
        )
        jobs.append(ImportJob.objects.create(user=user, candidate=candidate, mailbox=mailbox))
    started, cpu = time.perf_counter(), time.process_time()
    for job in jobs:
        token = IMPORT_LEASE.take(job.pk, seconds=600)
        assert token is not None
        # Loaded as the worker loads it (import_job_run_held), with its user, candidate
        # and mailbox.
        job = ImportJob.objects.select_related(
            "user", "candidate", "mailbox__user", "mailbox__organisation"
        ).get(pk=job.pk)
        import_job_advance(job, session, lease_token=token, keep_going=lambda: True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stored = EmailMessage.objects.count()
    assert stored == len(files), f"stored {stored} of {len(files)}"
    return {"messages": stored, "seconds": seconds, "cpu": cpu}


# --- The parse floor ---------------------------------------------------------------------


def parse_floor(corpus: Path) -> dict:
    from mailsync.mime import parse_message

    raws = [path.read_bytes() for path in sorted(corpus.glob("*.eml"))]
    started = time.process_time()
    for raw in raws:
        email.message_from_bytes(raw)
    stdlib = time.process_time() - started
    started = time.process_time()
    for raw in raws:
        parse_message(raw)
    ours = time.process_time() - started
    return {"stdlib_ms": 1000 * stdlib / len(raws), "ours_ms": 1000 * ours / len(raws)}


# --- The rounds --------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _database_for(base_url: str, workdir: Path, side: str, round_: int) -> str:
    """A fresh database for one round: an SQLite file in the round's folder (removed with
    it), or a PostgreSQL database beside `base_url`'s, made anew."""
    if not base_url:
        return f"sqlite:///{workdir / f'{side}-{round_}.sqlite3'}"
    name = f"threadline_bench_pipeline_{round_}"
    _postgres_database(base_url, name, create=True)
    return re.sub(r"/[^/]*$", f"/{name}", base_url)


def _postgres_database(base_url: str, name: str, *, create: bool) -> None:
    import psycopg
    from psycopg import sql

    admin = re.sub(r"/[^/]*$", "/postgres", base_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if create:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default=str(ROOT / "var/bench-venv/bin/python"))
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="", help="PostgreSQL for Threadline's side")
    parser.add_argument("--corpus", default=str(ROOT / "var/bench-corpus"))
    parser.add_argument("--threadline-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--parse-floor-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threadline_worker:
        corpus, url, workdir = args.threadline_worker
        print(json.dumps(threadline_run(Path(corpus), url, Path(workdir))))
        return
    if args.parse_floor_worker:
        print(json.dumps(parse_floor(Path(args.parse_floor_worker))))
        return

    corpus = Path(args.corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    files = corpus_ensure(corpus, args.messages)
    size = sum(path.stat().st_size for path in files)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load "
        f"{os.getloadavg()[0]:.2f}; corpus: {len(files)} messages, {size / 1e6:.0f} MB; "
        f"Threadline on {'PostgreSQL' if args.database_url else 'SQLite'}, peer on SQLite"
    )
    ratios, cpu_ratios = [], []
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="threadline-bench-pipeline-") as tmp:
            workdir = Path(tmp)
            cpu = _children_cpu()
            peer = subprocess.run(  # noqa: S603 (the shared peer harness)
                [args.peer_python, str(PEER_DIR / "bench_peer.py"), str(corpus)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            peer_cpu = _children_cpu() - cpu
            found = re.search(r"in ([\d.]+) s = (\d+) msg/s", peer.stdout)
            assert found, peer.stdout + peer.stderr
            peer_seconds = float(found.group(1))
            peer_rate = len(files) / peer_seconds
            url = _database_for(args.database_url, workdir, "threadline", round_)
            ours = json.loads(
                subprocess.run(  # noqa: S603 (this script)
                    [sys.executable, __file__, "--threadline-worker", str(corpus), url, tmp],
                    check=True, capture_output=True, text=True, cwd=ROOT,
                ).stdout.splitlines()[-1]
            )  # fmt: skip
            if args.database_url:
                _postgres_database(args.database_url, urlsplit(url).path[1:], create=False)
        rate = ours["messages"] / ours["seconds"]
        ratios.append(rate / peer_rate)
        # The peer's process CPU includes its start-up and migrations, ours only the timed
        # part: this ratio flatters Threadline somewhat (msg/s is the one that counts).
        cpu_ratios.append((peer_cpu / len(files)) / (ours["cpu"] / ours["messages"]))
        print(
            f"round {round_}: django-mailbox {peer_rate:.0f} msg/s ({peer_seconds:.2f} s, "
            f"process CPU {peer_cpu:.2f} s); Threadline {rate:.0f} msg/s "
            f"({ours['seconds']:.2f} s, CPU {ours['cpu']:.2f} s); ratio {ratios[-1]:.2f}"
        )
    # Once, after the rounds: CPU time of parsing alone, so it needs no interleaving.
    floor = json.loads(
        subprocess.run(  # noqa: S603 (this script)
            [sys.executable, __file__, "--parse-floor-worker", str(corpus)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        ).stdout.splitlines()[-1]
    )  # fmt: skip
    print(
        f"parse floor: {floor['stdlib_ms']:.2f} ms/msg CPU (the standard library's parse, "
        f"as the peer's); Threadline's parse_message {floor['ours_ms']:.2f} ms/msg CPU"
    )
    print(f"per CPU-second (median): {statistics.median(cpu_ratios):.2f}")
    print(f"ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
