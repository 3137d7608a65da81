"""Benchmark: inbound mail (limited sync) through gunicorn, driven by locust.

    .venv/bin/python bench/inbound.py [--duration 30] [--users 8] [--threads 500]
        [--database-url postgresql://postgres@127.0.0.1:5432/threadline_bench_inbound]
        [--prebuilt N] [--keep]

A fresh database (SQLite in var/, or the PostgreSQL one named, made and dropped here)
with one organisation on limited sync and N threads started from Threadline; gunicorn (2
sync workers) on loopback; locust playing Mailgun: each user posts the MIX below, freshly
signed, as fast as it is answered (built as it goes, or with --prebuilt all built first:
the server alone). The database must then hold exactly what the answers said; printed:
messages/second, latency, outcomes, bytes, time in the workers, CPU, and SQL queries per
outcome (in-process). Figures go to docs/benchmarks.md. bench/inbound_locustfile.py
imports `Mail` from here, so the load and the query counts post the same messages.
"""

import argparse
import email.policy
import email.utils
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage as Mime
from pathlib import Path
from statistics import mean
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mail_sync import _free_port  # noqa: E402 (needs the checkout on sys.path)

WEBHOOK_PATH = "/anymail/mailgun/inbound_mime/"
WORKDIR = ROOT / "var" / "bench-inbound"
SQLITE_FILE = ROOT / "var" / "bench-inbound.sqlite3"
# The attachments' encrypted files: made anew and removed with the database.
ATTACHMENT_DIR = ROOT / "var" / "bench-inbound-attachments"
# kind: (locust weight, the outcome the webhook must answer)
MIX = {
    "reply": (60, "stored"),  # a candidate's reply; half of them with an HTML alternative
    "reply_attachment": (15, "stored"),  # with a CV (PDF) or a picture, 100 KB to 2 MB
    "own_reply": (10, "stored"),  # the recruiter answering from their own mail client
    "not_of_interest": (15, "dropped"),  # routed, but no Threadline reference
}
ATTACHMENT_MIN, ATTACHMENT_MAX = 100 * 1024, 2 * 1024 * 1024
ATTACHMENTS = (  # file magic, MIME type, name; 70 % CVs, 30 % pictures
    (b"%PDF-1.7\n", "application", "pdf", "CV.pdf"),
    (b"\xff\xd8\xff\xe0", "image", "jpeg", "portfolio.jpg"),
)
ROLES = ("Platform Engineer", "Data Analyst", "Product Designer", "SRE", "Engineering Manager")
RECRUITERS = ("Riley Hart", "Sam Okafor", "Noor Haddad", "Jules Moreau")
SENTENCES = (
    "Thanks for reaching out, the role sounds like a great fit.",
    "I'm free on Tuesday after 2 pm or Thursday morning.",
    "Could you tell me a bit more about the team and the on-call rotation?",
    "My notice period is four weeks, so I could start early next quarter.",
    "I've attached my CV — happy to walk you through it.",
    "Salary-wise I'm looking for something in line with the posting.",
    "Merci — and apologies for the slow reply, I was travelling.",
    "Sounds good; please send the calendar invite to this address.",
)


@dataclass(frozen=True)
class Outgoing:
    kind: str
    sender: str  # the SMTP envelope sender Mailgun reports
    message_id: str
    raw: bytes


class Mail:
    """Messages as mail clients write them, for the threads in the corpus."""

    def __init__(self, corpus: dict, seed: int | None = None) -> None:
        self.corpus = corpus
        self.rng = random.Random(seed)
        # Attachments are slices of one random block: incompressible, like PDFs and photos.
        self.noise = self.rng.randbytes(ATTACHMENT_MAX)

    def any_kind(self) -> str:
        """A kind drawn with the weights of MIX."""
        return self.rng.choices(list(MIX), weights=[weight for weight, _ in MIX.values()])[0]

    def make(self, kind: str) -> Outgoing:
        thread = self.rng.choice(self.corpus["threads"])
        if kind == "reply":
            return self._reply(kind, thread, html=self.rng.random() < 0.5)
        if kind == "reply_attachment":
            return self._reply(kind, thread, html=True, attachment=True)
        if kind == "own_reply":
            return self._reply(kind, thread, html=True, own=True)
        return self._not_of_interest(thread)

    def _prose(self, low: int, high: int) -> list[str]:
        return self.rng.sample(SENTENCES, self.rng.randint(low, high))

    def _reply(
        self, kind: str, thread: dict, *, html: bool, attachment: bool = False, own: bool = False
    ) -> Outgoing:
        sender, to = thread["candidate"], thread["recruiter"]
        if own:
            sender, to = to, sender
        quoted = f"{thread['recruiter']} wrote:\n> Would you like to talk?"
        paragraphs = self._prose(1, 5)
        mime = self._envelope(sender, to, f"Re: {thread['subject']}")
        mime["In-Reply-To"] = thread["message_id"]
        mime["References"] = thread["message_id"]
        mime.set_content("\n\n".join([*paragraphs, quoted]) + "\n")
        if html:
            body = "".join(f"<p>{line}</p>" for line in paragraphs)
            mime.add_alternative(
                f'<div dir="ltr">{body}</div><blockquote class="gmail_quote">'
                f"{quoted.replace(chr(10), '<br>')}</blockquote>",
                subtype="html",
            )
        if attachment:
            size = int(ATTACHMENT_MIN * (ATTACHMENT_MAX / ATTACHMENT_MIN) ** self.rng.random())
            start = self.rng.randrange(ATTACHMENT_MAX - size + 1)
            magic, maintype, subtype, name = self.rng.choices(ATTACHMENTS, weights=(7, 3))[0]
            content = magic + self.noise[start : start + size - len(magic)]
            mime.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
        raw = mime.as_bytes()
        if own:
            # Sent from the recruiter's own mail service, which signs its domain's mail: the
            # relay's DKIM check is what makes it the recruiter's (inbound/authentication.py).
            from sandbox.mime import dkim_sign

            raw = dkim_sign(raw, domain=email.utils.parseaddr(sender)[1].rpartition("@")[2])
        return Outgoing(kind, email.utils.parseaddr(sender)[1], mime["Message-ID"], raw)

    def _not_of_interest(self, thread: dict) -> Outgoing:
        """Mail the routing rule let through that Threadline must drop: a newsletter, or a
        candidate's reply in a conversation started outside Threadline."""
        if self.rng.random() < 0.5:
            sender = "Hiring Weekly <news@hiringweekly.example>"
            mime = self._envelope(sender, thread["recruiter"], "This week in hiring")
            items = [self._prose(3, 6) for _ in range(20)]  # about 13 KB with the text part
            mime.set_content("\n\n".join(" ".join(item) for item in items) + "\n")
            mime.add_alternative(
                "".join(f"<table><tr><td><p>{' '.join(i)}</p></td></tr></table>" for i in items),
                subtype="html",
            )
        else:
            sender = thread["candidate"]
            mime = self._envelope(sender, thread["recruiter"], "Re: coffee next week?")
            elsewhere = f"<CA+{self.rng.getrandbits(128):032x}@mail.gmail.com>"
            mime["In-Reply-To"] = elsewhere
            mime["References"] = elsewhere
            mime.set_content("\n\n".join(self._prose(1, 4)) + "\n")
        return Outgoing(
            "not_of_interest", email.utils.parseaddr(sender)[1], mime["Message-ID"], mime.as_bytes()
        )

    def _envelope(self, sender: str, to: str, subject: str) -> Mime:
        mime = Mime(policy=email.policy.SMTP)
        mime["From"] = sender
        mime["To"] = to
        mime["Subject"] = subject
        mime["Date"] = email.utils.formatdate(localtime=False)
        domain = email.utils.parseaddr(sender)[1].rpartition("@")[2]
        mime["Message-ID"] = email.utils.make_msgid(domain=domain)
        return mime


def mailgun_post(corpus: dict, outgoing: Outgoing) -> tuple[bytes, str]:
    """The body and content type of Mailgun's post of one message: multipart/form-data,
    freshly signed. (Needs Django set up: the signing is the sandbox's.)"""
    from urllib3 import encode_multipart_formdata

    from sandbox.mailgun import relay_stamp, signed_fields

    fields = signed_fields(
        # Mailgun's MX checks the DKIM signatures and puts its verdict on top.
        raw=relay_stamp(outgoing.raw),
        recipient=corpus["inbound_address"],
        sender=outgoing.sender,
        signing_key=corpus["signing_key"],
    )
    return encode_multipart_formdata(fields)


# --- The database -----------------------------------------------------------------------


def database_reset(url: str, *, create: bool) -> None:
    """Remove the run's database (an SQLite file and its WAL, or a PostgreSQL database)
    and, with `create`, make it anew."""
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{urlsplit(url).path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = sql.Identifier(parts.path.lstrip("/"))
    admin_url = urlunsplit(parts._replace(path="/postgres"))  # for CREATE/DROP DATABASE
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if create:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))


def seed(*, threads: int) -> dict:
    """One organisation on limited sync, its recruiters, candidates and `threads` threads
    that Threadline started; returns the corpus the load needs."""
    from django.conf import settings

    from accounts.models import Organisation, Role, User
    from candidates.models import Candidate, CandidateEmail, EmailThread
    from mailsync.ingest import message_store
    from mailsync.mime import build_message, parse_message
    from mailsync.threadref import new_message_id, thread_ref

    organisation = Organisation.objects.create(
        name="Bench Co",
        slug="bench-co",
        email_provider="google",
        email_sync_level=Organisation.SyncLevel.LIMITED,
    )
    recruiters, team = [], {"organisation": organisation, "role": Role.TEAM_MEMBER}
    for name in RECRUITERS:  # with no password: nobody signs in
        address = f"{name.lower().replace(' ', '.')}@benchco.example"
        recruiters.append(User.objects.create_user(address, None, full_name=name, **team))
    people = max(1, threads // 2)
    candidates = Candidate.objects.bulk_create(
        Candidate(organisation=organisation, full_name=f"Candidate {i}", created_by=recruiters[0])
        for i in range(people)
    )
    addresses = [f"candidate.{i}@mail.example.org" for i in range(people)]
    CandidateEmail.objects.bulk_create(
        CandidateEmail(organisation=organisation, candidate=c, address=a, is_primary=True)
        for c, a in zip(candidates, addresses, strict=True)
    )
    corpus_threads = []
    for index in range(threads):
        candidate, address = candidates[index % people], addresses[index % people]
        recruiter = recruiters[index % len(recruiters)]
        subject = f"{ROLES[index % len(ROLES)]} at Bench Co ({index})"
        thread = EmailThread.objects.create(
            organisation=organisation, candidate=candidate, owner=recruiter, subject=subject
        )
        message_id = new_message_id(thread.pk)
        raw = build_message(
            from_address=recruiter.email,
            from_name=recruiter.full_name,
            to=[address],
            subject=subject,
            body_text="Would you like to talk?",
            message_id=message_id,
            threadline_ref=thread_ref(thread.pk),
        )
        message_store(thread=thread, parsed=parse_message(raw), author=recruiter)
        corpus_threads.append(
            {
                "message_id": message_id,
                "subject": subject,
                "candidate": email.utils.formataddr((candidate.full_name, address)),
                "recruiter": email.utils.formataddr((recruiter.full_name, recruiter.email)),
            }
        )
    return {
        "organisation_id": organisation.pk,
        "inbound_address": organisation.inbound_address,
        "signing_key": settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"],
        "threads": corpus_threads,
    }


# --- The run ----------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds since it was made: gunicorn's and PostgreSQL's processes, sampled while
    locust runs (one that ends meanwhile, like a recycled backend, keeps its last sample),
    locust once it has ended, and the whole machine."""

    def __init__(self, server: subprocess.Popen) -> None:
        import psutil  # comes with locust

        self.master = psutil.Process(server.pid)
        self.first = self._sample()
        self.last = dict(self.first)
        self.children, self.machine = self._children(), self._machine()

    @staticmethod
    def _children() -> float:
        """The child processes that have ended (locust)."""
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def _machine() -> float:
        """The whole machine, every process, since it booted."""
        ticks = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait

    def _sample(self) -> dict[tuple[str, int], float]:
        import psutil

        groups = {
            "gunicorn": [self.master, *self.master.children(recursive=True)],
            "postgres": [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"],
        }
        seen = {}
        for group, processes in groups.items():
            for process in processes:
                try:
                    seen[group, process.pid] = sum(process.cpu_times()[:2])
                except psutil.Error:
                    continue  # it has just ended
        return seen

    def sample(self) -> None:
        self.last.update(self._sample())

    def used(self) -> dict[str, float]:
        self.sample()
        used = {"gunicorn": 0.0, "postgres": 0.0}
        for (group, pid), seconds in self.last.items():
            used[group] += seconds - self.first.get((group, pid), 0.0)
        used["locust"] = self._children() - self.children
        used["machine"] = self._machine() - self.machine
        return used


def serve(env: dict[str, str], port: int, log) -> subprocess.Popen:
    import requests

    options = f"--workers 2 --bind 127.0.0.1:{port} --log-level warning --access-logfile"
    server = subprocess.Popen(  # noqa: S603 (our own app under gunicorn)
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *("config.wsgi", *options.split(), str(WORKDIR / "access.log")),
            # Each post's time inside a worker (ms), from reading the request to the answer.
            *("--access-logformat", "%(M)s %(s)s %(U)s"),
        ],
        cwd=ROOT,
        env=env,
        stderr=log,
    )
    for _ in range(300):  # a minute
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer /healthz: see {log.name}")


def run_locust(env: dict[str, str], meter: CpuMeter, *, host: str, args) -> int:
    """Locust, headless, in its own process; it writes one line per post to requests.jsonl
    and its statistics to locust_stats.json. Returns its exit code (1: some posts failed)."""
    with (WORKDIR / "locust.log").open("w") as log:
        # --stop-timeout lets each user finish the post it is in: an answer never read
        # would count as stored in the database but in no response.
        options = (
            f"--headless --users {args.users} --spawn-rate {args.users} "
            f"--run-time {args.duration}s "
            f"--stop-timeout 60 --host {host} --only-summary --loglevel WARNING"
        )
        locust = subprocess.Popen(  # noqa: S603 (locust from our venv)
            [
                str(Path(sys.executable).parent / "locust"),
                *("-f", str(ROOT / "bench" / "inbound_locustfile.py"), *options.split()),
            ],
            cwd=ROOT,
            env={
                **env,
                "PYTHONPATH": str(ROOT),
                "BENCH_INBOUND_DIR": str(WORKDIR),
                "BENCH_INBOUND_PREBUILT": str(args.prebuilt),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        while locust.poll() is None:
            meter.sample()
            time.sleep(0.5)
        return locust.returncode


def verify(corpus: dict, posts: list[dict]) -> list[tuple[str, bool]]:
    """What the answers said against what the database holds."""
    from django.db.models import Sum

    from candidates.models import EmailAttachment, EmailMessage
    from inbound.models import DailyTally
    from mailsync.threadref import message_id_digest

    seeded = {message_id_digest(thread["message_id"]) for thread in corpus["threads"]}
    new_messages = EmailMessage.objects.filter(
        thread__organisation_id=corpus["organisation_id"]
    ).exclude(message_id_digest__in=seeded)
    in_db = list(new_messages.values_list("message_id_digest", flat=True))
    stored = [post for post in posts if post["outcome"] == "stored"]
    answered = {message_id_digest(post["message_id"]) for post in stored}
    dropped = sum(post["outcome"] == "dropped" for post in posts)

    def tally(outcome: str) -> int:
        rows = DailyTally.objects.filter(organisation_id=corpus["organisation_id"], outcome=outcome)
        return rows.aggregate(n=Sum("count"))["n"] or 0

    attachments = EmailAttachment.objects.filter(message__in=new_messages).count()
    outbound = new_messages.filter(direction=EmailMessage.Direction.OUTBOUND).count()
    stored_kinds = Counter(post["kind"] for post in stored)
    return [
        ("every post answered 200 (no 4xx, no 5xx)", all(p["status"] == 200 for p in posts)),
        (
            "every post met its kind's outcome",
            all(p["outcome"] == MIX[p["kind"]][1] for p in posts),
        ),
        ("messages stored == 'stored' answers", len(in_db) == len(stored)),
        ("the stored messages are the ones answered 'stored'", set(in_db) == answered),
        ("no message stored twice", len(set(in_db)) == len(in_db)),
        ("stored tally == 'stored' answers", tally("stored") == len(stored)),
        ("dropped tally == 'dropped' answers", tally("dropped") == dropped),
        (
            "an attachment per stored reply_attachment",
            attachments == stored_kinds["reply_attachment"],
        ),
        ("recruiters' own replies stored as outbound", outbound == stored_kinds["own_reply"]),
    ]


def queries_per_message(corpus: dict, *, sample: int) -> dict[str, dict[str, float]]:
    """SQL statements and milliseconds per message, in this process: the service alone
    (`message_receive`), and the whole webhook post (signature, token, service) through
    Django's test client. Each stored message is then delivered again: a duplicate. The
    statements of the first stored message go to queries-stored.sql."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from inbound.services import message_receive

    mail, address = Mail(corpus, seed=11), corpus["inbound_address"]
    client = Client(HTTP_HOST="127.0.0.1")
    measured: dict[str, list[tuple[int, float]]] = {}

    def post(outgoing: Outgoing):
        body, content_type = mailgun_post(corpus, outgoing)
        return lambda: client.generic("POST", WEBHOOK_PATH, body, content_type).json()["status"]

    def receive(outgoing: Outgoing):
        token = os.urandom(16).hex()
        return lambda: (
            message_receive(raw=outgoing.raw, recipient=address, replay_token=token).outcome
        )

    def measure(label: str, deliver, outgoing: Outgoing) -> str:
        call = deliver(outgoing)  # signing and encoding are Mailgun's work: not timed
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            outcome = call()
            elapsed = time.perf_counter() - started
        key = f"{label}: {outgoing.kind} {outcome}"
        sql_file = WORKDIR / "queries-stored.sql"
        if label == "service" and outcome == "stored" and not sql_file.exists():
            statements = [query["sql"] for query in captured.captured_queries]
            sql_file.write_text("\n".join(statements) + "\n")
        measured.setdefault(key, []).append((len(captured), elapsed))
        return outcome

    for kind in MIX:  # warm up: the first request imports and compiles what it meets
        receive(mail.make(kind))()
        post(mail.make(kind))()
    for kind in MIX:
        for _ in range(sample):
            for label, deliver in (("service", receive), ("webhook", post)):
                outgoing = mail.make(kind)
                if measure(label, deliver, outgoing) == "stored":
                    measure(label, deliver, outgoing)  # delivered again: a duplicate
    return {
        key: {
            "queries": sum(q for q, _ in rows) / len(rows),
            "min": min(q for q, _ in rows),
            "max": max(q for q, _ in rows),
            "ms": 1000 * sum(s for _, s in rows) / len(rows),
        }
        for key, rows in sorted(measured.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds of load")
    parser.add_argument("--users", type=int, default=8, help="concurrent locust users")
    parser.add_argument("--threads", type=int, default=500, help="threads to reply to")
    parser.add_argument("--sample", type=int, default=20, help="messages of each kind counted")
    parser.add_argument("--database-url", default=f"sqlite:///{SQLITE_FILE}", help="made anew")
    parser.add_argument("--prebuilt", type=int, default=0, help="posts built before the clock")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    if args.prebuilt > 10_000:
        parser.error("signatures expire after 5 minutes: prebuild at most 10,000 posts")
    if "bench" not in urlsplit(args.database_url).path.rpartition("/")[2]:
        parser.error("the run drops its database: name one with 'bench' in its name")

    WORKDIR.mkdir(parents=True, exist_ok=True)
    for old in WORKDIR.iterdir():
        old.unlink()
    database_reset(args.database_url, create=True)
    shutil.rmtree(ATTACHMENT_DIR, ignore_errors=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DATABASE_URL": args.database_url,
        "ATTACHMENT_STORAGE_DIR": str(ATTACHMENT_DIR),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        # The locustfile signs posts with the sandbox's Mailgun; nothing else of it is used.
        "SANDBOX": "1",
    }
    os.environ.update(env)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # One key for this process, gunicorn and locust (development generates it in var/).
    env["FIELD_ENCRYPTION_KEY"] = ",".join(settings.FIELD_ENCRYPTION_KEY)
    env["REQUESTS_CA_BUNDLE"] = os.environ["REQUESTS_CA_BUNDLE"]  # set by the settings
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        corpus = seed(threads=args.threads)
        seeded_in = time.perf_counter() - started
        (WORKDIR / "corpus.json").write_text(json.dumps(corpus))
        port = _free_port()
        with (WORKDIR / "gunicorn.log").open("w") as log:
            server = serve(env, port, log)
            try:
                meter = CpuMeter(server)
                code = run_locust(env, meter, host=f"http://127.0.0.1:{port}", args=args)
                cpu = meter.used()
            finally:
                server.terminate()
                server.wait(timeout=60)
        if code not in (0, 1):
            raise SystemExit(f"locust failed ({code}): see {WORKDIR / 'locust.log'}")
        report(args, corpus=corpus, seeded_in=seeded_in, cpu=cpu)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            database_reset(args.database_url, create=False)
            shutil.rmtree(ATTACHMENT_DIR, ignore_errors=True)


def report(args, *, corpus: dict, seeded_in: float, cpu: dict[str, float]) -> None:
    from django.db import connection

    posts = [json.loads(line) for line in (WORKDIR / "requests.jsonl").read_text().splitlines()]
    locust = json.loads((WORKDIR / "locust_stats.json").read_text())
    span = max(post["ended"] for post in posts) - min(post["started"] for post in posts)
    sent, mime = (sum(post[key] for post in posts) / 2**20 for key in ("bytes", "mime_bytes"))
    log = (WORKDIR / "access.log").read_text().splitlines()
    in_worker = sorted(int(line.split()[0]) for line in log if line.endswith(WEBHOOK_PATH))
    used = cpu["gunicorn"] + cpu["postgres"] + locust["cpu_seconds"]
    others = cpu["machine"] - cpu["gunicorn"] - cpu["postgres"] - cpu["locust"]
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu_model = next((line.split(":")[1].strip() for line in cpuinfo if "model name" in line), "?")
    built = f"{args.prebuilt:,} built before the clock" if args.prebuilt else "built as they go"
    print(
        f"machine: {os.cpu_count()} cores ({cpu_model}), Python {sys.version.split()[0]}, "
        f"database {connection.vendor}; gunicorn 2 sync workers, locust {args.users} users;\n"
        f"posts {built}; {len(corpus['threads'])} threads seeded in {seeded_in:.1f} s\n"
        f"\nposts: {len(posts):,} in {span:.1f} s = {len(posts) / span:.1f} messages/second "
        f"({locust['requests']['Aggregated']['per_second']:.1f}/s by locust's clock); "
        f"stored {sum(p['outcome'] == 'stored' for p in posts) / span:.1f}/s\n"
        f"received: {sent:.1f} MiB of posts ({mime:.1f} MiB of MIME), {sent / span:.2f} MiB/s\n"
        f"inside gunicorn's workers: {sum(in_worker) / 1000:.1f} s of {2 * span:.1f} "
        f"worker-seconds; per post p50 {in_worker[len(in_worker) // 2]} ms, "
        f"p95 {in_worker[int(len(in_worker) * 0.95)]} ms, mean {mean(in_worker):.0f} ms\n"
        f"CPU while posting (core-seconds): gunicorn {cpu['gunicorn']:.1f}, PostgreSQL "
        f"{cpu['postgres']:.1f}, locust {locust['cpu_seconds']:.1f}: {used:.1f} of "
        f"{span * (os.cpu_count() or 1):.1f}; anything else on the machine {max(others, 0):.1f}"
    )
    outcomes = Counter((post["kind"], post["outcome"] or str(post["status"])) for post in posts)
    print("\nlatency (ms)            posts    p50    p95    p99     max  outcomes")
    for name, row in locust["requests"].items():
        answers = ", ".join(f"{n:,} {what}" for (kind, what), n in outcomes.items() if kind == name)
        print(
            f"  {name:<20} {row['requests']:>7,} {row['p50']:>6.0f} {row['p95']:>6.0f} "
            f"{row['p99']:>6.0f} {row['max']:>7.0f}  {answers}"
        )
    checks = verify(corpus, posts)
    print("\nchecks against the database")
    for name, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")

    print(f"\nSQL queries per message ({args.sample} of each kind, in-process)")
    print("                                          queries (min-max)   ms")
    for name, row in queries_per_message(corpus, sample=args.sample).items():
        print(f"  {name:<38} {row['queries']:>5.1f} ({row['min']}-{row['max']}) {row['ms']:>8.1f}")
    print(f"  statements of one stored message: {WORKDIR / 'queries-stored.sql'}")
    if not all(ok for _, ok in checks):
        raise SystemExit("some checks failed")


if __name__ == "__main__":
    main()
