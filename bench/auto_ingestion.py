"""Benchmark: automatic ingestion (issue 12) as the background job runs it, through the
sandbox over real HTTP, with the provider's real limits in force.

    .venv/bin/python bench/auto_ingestion.py --provider google|microsoft \
        [--messages 100000] [--one-on-one 3000] [--quick]

The recruiter's mailbox holds `messages` messages: `one-on-one` of them in one-on-one
conversations with the organisation's candidates in the last six months (the candidate
writes, the recruiter answers), a few hundred more with candidates that the rules leave
out (a third person on Cc; nothing for more than six months), the rest unrelated mail.
The organisation turns automatic ingestion on and the job runs in its own process (as a
worker would, development settings: real pacing). Printed: API calls by operation,
quota units (Gmail's units; Graph's requests), 429 answers, seconds, the worker's peak
memory, and the job's counts. `--quick`: 10,000 messages, 300 one-on-one. Figures go to
docs/benchmarks.md.
"""

import argparse
import email.policy
import email.utils
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as Mime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mail_sync import sandbox_served  # noqa: E402 (path set above)

# The worker: run the job, and again while it asks to go on; then its peak memory.
RUN_JOB = (
    "import json, os, resource\n"
    "from mailsync.services import ingestion_run\n"
    "while ingestion_run(job_id=int(os.environ['INGESTION_JOB_ID'])).again_in is not None:\n"
    "    pass\n"
    "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)
CANDIDATES = 500
LEFT_OUT = 200  # conversations of each excluded kind


def _conversation(
    candidate: str, recruiter: str, index: int, at: datetime, *, cc: str = ""
) -> list[tuple[bytes, list[str], int]]:
    """The candidate writes; the recruiter answers a day later in the same conversation.
    (raw, labels, internal date in ms) for each."""
    first = Mime(policy=email.policy.SMTP)
    first["From"] = candidate
    first["To"] = recruiter
    if cc:
        first["Cc"] = cc
    first["Subject"] = f"Our conversation {index}"
    first["Message-ID"] = email.utils.make_msgid(domain="candidate.example")
    first["Date"] = email.utils.format_datetime(at)
    first.set_content("Thanks for getting back to me. " * 40)
    answer = Mime(policy=email.policy.SMTP)
    answer["From"] = recruiter
    answer["To"] = candidate
    answer["Subject"] = f"Re: Our conversation {index}"
    answer["Message-ID"] = email.utils.make_msgid(domain="acme.test")
    answer["In-Reply-To"] = answer["References"] = first["Message-ID"]
    later = at + timedelta(days=1)
    answer["Date"] = email.utils.format_datetime(later)
    answer.set_content("Happy to talk. " * 40)
    return [
        (first.as_bytes(), ["INBOX"], int(at.timestamp() * 1000)),
        (answer.as_bytes(), ["SENT"], int(later.timestamp() * 1000)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["google", "microsoft"], default="google")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--one-on-one", type=int, default=3_000)
    parser.add_argument("--quick", action="store_true", help="10,000 messages, 300 one-on-one")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.one_on_one = 10_000, 300

    with sandbox_served(prefix="threadline-bench-ingestion-") as env:
        from django.db import connection
        from django.db.models import Count, Sum

        from bench.scenario import RECRUITER, Scenario
        from candidates.models import Candidate, CandidateEmail, EmailMessage
        from mailsync.models import IngestionJob
        from mailsync.services import ingestion_start
        from sandbox import services as sandbox
        from sandbox.models import RequestLog

        filling = time.perf_counter()
        left_out_messages = 4 * LEFT_OUT
        scenario = Scenario.create(
            provider=args.provider,
            messages=args.messages - args.one_on_one - left_out_messages,
            share=0,
        )
        mailbox = scenario.connection
        organisation = mailbox.organisation
        organisation.auto_ingestion_enabled = True
        organisation.save(update_fields=["auto_ingestion_enabled"])
        addresses = []
        for index in range(CANDIDATES):
            candidate = Candidate.objects.create(
                organisation=organisation, full_name=f"Applicant {index}"
            )
            address = f"applicant{index}@candidates.example"
            CandidateEmail.objects.create(
                organisation=organisation, candidate=candidate, address=address, is_primary=True
            )
            addresses.append(address)
        now = datetime.now(UTC)
        box = scenario.connection_box
        plan = [
            # One-on-one, active: ingested.
            *[
                (addresses[i % CANDIDATES], now - timedelta(days=2 + i % 170), "")
                for i in range(args.one_on_one // 2)
            ],
            # A third person on Cc: left out (group).
            *[
                (addresses[i % CANDIDATES], now - timedelta(days=3 + i % 170), "boss@else.example")
                for i in range(LEFT_OUT)
            ],
            # Nothing for more than six months: left out (inactive).
            *[
                (addresses[i % CANDIDATES], now - timedelta(days=200 + i % 150), "")
                for i in range(LEFT_OUT)
            ],
        ]
        for index, (address, at, cc) in enumerate(plan):
            for raw, labels, internal_date in _conversation(address, RECRUITER, index, at, cc=cc):
                sandbox.message_insert(
                    mailbox=box, raw=raw, labels=labels, internal_date=internal_date
                )
        # The provider's own limits, not the benchmark's lifted ones: the job must keep
        # inside them by itself.
        if args.provider == "google":
            sandbox.quota_set(mailbox=box, per_minute=None)
        else:
            sandbox.graph_limits_set(mailbox=box, per_ten_minutes=None, concurrent=None)
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"database {connection.vendor}; mailbox filled in "
            f"{time.perf_counter() - filling:.0f} s"
        )
        print(
            f"provider: {args.provider}; mailbox: {box.messages.count():,} messages, "
            f"{args.one_on_one:,} one-on-one with {CANDIDATES} candidates, "
            f"{left_out_messages:,} with candidates left out by the rules"
        )

        baseline = scenario.log_position()
        job = ingestion_start(mailbox=mailbox)  # queued (no worker listens to the broker)
        assert job is not None
        started = time.perf_counter()
        worker = subprocess.run(  # noqa: S603 (our own manage.py)
            [sys.executable, "manage.py", "shell", "-c", RUN_JOB],
            cwd=ROOT,
            env={**env, "INGESTION_JOB_ID": str(job.pk)},
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        peak_kib = next(
            int(line.split()[1])
            for line in worker.stdout.splitlines()
            if line.startswith("PEAK_KIB")
        )
        job = IngestionJob.objects.get(pk=job.pk)
        calls = RequestLog.objects.filter(id__gt=baseline, mailbox=box)
        by_operation = {
            f"{row['operation']}({row['format']})" if row["format"] else row["operation"]: row["n"]
            for row in calls.values("operation", "format").annotate(n=Count("id"))
        }
        units = calls.aggregate(total=Sum("units"))["total"] or 0
        spent = units if args.provider == "google" else calls.count()
        figures = {
            "seconds": round(seconds, 1),
            "worker_peak_mib": round(peak_kib / 1024, 1),
            "state": job.state,
            "found": job.found,
            "ingested": job.ingested,
            "messages_ingested": job.messages_ingested,
            "already_there": job.already_there,
            "skipped_group": job.skipped_group,
            "skipped_own_domain": job.skipped_own_domain,
            "skipped_not_candidate": job.skipped_not_candidate,
            "skipped_inactive": job.skipped_inactive,
            "skipped_unreadable": job.skipped_unreadable,
            "messages_stored": EmailMessage.objects.filter(
                thread__origin="ingested", thread__owner=mailbox.user
            ).count(),
            "api_calls": calls.count(),
            "quota_units": spent,
            "quota_units_per_second": round(spent / seconds, 1),
            "answers_429": calls.filter(status=429).count(),
            "calls_by_operation": by_operation,
        }
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
