"""Benchmark: "Import candidate email" as the background job runs it, through the sandbox
over real HTTP, with the provider's real limits in force.

    .venv/bin/python bench/import_candidate.py --provider google|microsoft \
        [--messages 100000] [--candidate-messages 2000]

The recruiter's mailbox holds `messages` messages, `candidate-messages` of them between
the recruiter and one candidate (half the candidate's, half the recruiter's answers in the
same conversations), the rest unrelated. The job runs in its own process (as a worker
would, development settings: real pacing, O365's 200 ms between Graph calls) while this
one watches the job's row every 50 ms, as the progress panel's poll does. Printed: API
calls, quota units, 429 answers, seconds, and the longest gap between two progress
updates (the panel must move at least every 2 s). Figures go to docs/benchmarks.md.
"""

import argparse
import email.policy
import email.utils
import itertools
import json
import os
import subprocess
import sys
import time
from email.message import EmailMessage as Mime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mail_sync import sandbox_served  # noqa: E402 (path set above)

# The worker's loop: run the job, and again while it asks to go on (a slice used up).
RUN_JOB = (
    "import os\n"
    "from mailsync.services import candidate_import_run\n"
    "while candidate_import_run(job_id=os.environ['IMPORT_JOB_ID']).again_in is not None:\n"
    "    pass\n"
)


def _conversation(candidate: tuple[str, str], recruiter: str, index: int) -> list[bytes]:
    """The candidate writes; the recruiter answers in the same conversation."""
    name, address = candidate
    first = Mime(policy=email.policy.SMTP)
    first["From"] = email.utils.formataddr((name, address))
    first["To"] = recruiter
    first["Subject"] = f"Our conversation {index}"
    first["Message-ID"] = email.utils.make_msgid(domain="candidate.example")
    first["Date"] = email.utils.formatdate(1_600_000_000 + index * 7200)
    first.set_content("Thanks for getting back to me. " * 40)
    answer = Mime(policy=email.policy.SMTP)
    answer["From"] = email.utils.formataddr(("Riley", recruiter))
    answer["To"] = address
    answer["Subject"] = f"Re: Our conversation {index}"
    answer["Message-ID"] = email.utils.make_msgid(domain="acme.test")
    answer["In-Reply-To"] = answer["References"] = first["Message-ID"]
    answer["Date"] = email.utils.formatdate(1_600_000_000 + index * 7200 + 600)
    answer.set_content("Happy to talk. " * 40)
    return [first.as_bytes(), answer.as_bytes()]


def _watch(job_id: str, process: subprocess.Popen) -> dict:
    """Poll the job's row while the worker runs it: when each progress update was seen,
    from the worker's taking the job to its end."""
    from mailsync.models import ImportJob

    updates: list[float] = []
    last = None
    started = time.perf_counter()
    while True:
        job = ImportJob.objects.get(pk=job_id)
        seen = (job.found, job.imported, job.already_there, job.skipped, job.state)
        # From the moment a worker has it (the worker process's start-up is not the job's).
        if seen != last and job.state != ImportJob.State.QUEUED:
            updates.append(time.perf_counter() - started)
            last = seen
        if job.state not in ImportJob.ACTIVE_STATES or process.poll() is not None:
            break
        time.sleep(0.05)
    gaps = [later - earlier for earlier, later in itertools.pairwise(updates)]
    return {"updates": len(updates), "max_gap_seconds": round(max(gaps, default=0), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["google", "microsoft"], default="google")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--candidate-messages", type=int, default=2_000)
    args = parser.parse_args()

    with sandbox_served(prefix="threadline-bench-import-") as env:
        from django.db import connection
        from django.db.models import Count, Sum

        from bench.scenario import RECRUITER, Scenario
        from candidates.models import Candidate, CandidateEmail, EmailMessage
        from mailsync.models import ImportJob
        from mailsync.services import candidate_import_start
        from sandbox import services as sandbox
        from sandbox.models import RequestLog

        filling = time.perf_counter()
        scenario = Scenario.create(
            provider=args.provider, messages=args.messages - args.candidate_messages, share=0
        )
        user = scenario.connection.user
        candidate = Candidate.objects.create(
            organisation=scenario.connection.organisation, full_name="Casey Candidate"
        )
        address = "casey.candidate@candidate.example"
        CandidateEmail.objects.create(
            organisation=scenario.connection.organisation,
            candidate=candidate,
            address=address,
            is_primary=True,
        )
        box = scenario.connection_box
        for index in range(args.candidate_messages // 2):
            first, answer = _conversation((candidate.full_name, address), RECRUITER, index)
            sandbox.message_insert(mailbox=box, raw=first, labels=["INBOX"])
            sandbox.message_insert(mailbox=box, raw=answer, labels=["SENT"])
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
            f"{args.candidate_messages:,} with the candidate"
        )

        baseline = scenario.log_position()
        job = candidate_import_start(actor=user, candidate=candidate)  # queued
        started = time.perf_counter()
        worker = subprocess.Popen(  # noqa: S603 (our own manage.py)
            [sys.executable, "manage.py", "shell", "-c", RUN_JOB],
            cwd=ROOT,
            env={**env, "IMPORT_JOB_ID": str(job.pk)},
        )
        progress = _watch(str(job.pk), worker)
        worker.wait()
        seconds = time.perf_counter() - started
        job = ImportJob.objects.get(pk=job.pk)
        calls = RequestLog.objects.filter(id__gt=baseline, mailbox=box)
        by_operation = {
            f"{row['operation']}({row['format']})" if row["format"] else row["operation"]: row["n"]
            for row in calls.values("operation", "format").annotate(n=Count("id"))
        }
        units = calls.aggregate(total=Sum("units"))["total"] or 0
        figures = {
            "seconds": round(seconds, 1),
            "state": job.state,
            "found": job.found,
            "imported": job.imported,
            "already_there": job.already_there,
            "skipped": job.skipped,
            "threads": job.threads,
            "messages_stored": EmailMessage.objects.filter(thread__candidate=candidate).count(),
            "api_calls": calls.count(),
            "quota_units": units if args.provider == "google" else calls.count(),
            "quota_units_per_second": round(
                (units if args.provider == "google" else calls.count()) / seconds, 1
            ),
            "answers_429": calls.filter(status=429).count(),
            "progress_updates": progress["updates"],
            "max_seconds_between_progress_updates": progress["max_gap_seconds"],
            "calls_by_operation": by_operation,
        }
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
