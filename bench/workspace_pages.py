"""Benchmark: the candidate list and a profile's Emails tab with many threads (issue 10).

    .venv/bin/python bench/workspace_pages.py [--threads 500] [--candidates 100] [--runs 9]

A fresh SQLite database in a temporary folder, one organisation of five recruiters, an
Admin and `--candidates` candidates. The list scenario spreads `--threads` threads over
the candidates (team, private and secret threads of every recruiter, three messages
each, a quarter of the replies already seen by the viewer); the profile scenario gives
one more candidate `--threads` threads of their own. Each page is fetched through
Django's test client, in process, as a Team Member and as an Admin: queries counted,
milliseconds the median of --runs after one warm-up. The same pages with no thread at
all are measured first, for scale. Figures go to docs/benchmarks.md.

Templates render as in production, without the test environment's instrumentation (a
signal and a copy of the context for every template and partial rendered);
`--instrument-templates` puts it back, to compare with figures measured before.
"""

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local_django import django_in  # noqa: E402 (after the path that finds it)

if TYPE_CHECKING:  # the models load only once django_in has set Django up
    from accounts.models import User
    from candidates.models import Candidate

MESSAGES_PER_THREAD = 3
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def _threads_for(candidates, *, recruiters, count: int, first: int = 0) -> None:
    """`count` threads over `candidates`, round robin, each with its messages and the
    activity times ingest keeps; every fourth one seen by the first recruiter."""
    from candidates.models import EmailMessage, EmailThread, ThreadSeen

    visibilities = [EmailThread.Visibility.TEAM] * 6 + [EmailThread.Visibility.PRIVATE] * 3
    visibilities.append(EmailThread.Visibility.SECRET)
    threads, messages, seen = [], [], []
    for n in range(first, first + count):
        owner = recruiters[n % len(recruiters)]
        sent = [START + dt.timedelta(hours=7 * n + m) for m in range(MESSAGES_PER_THREAD)]
        # Threads alternate between ending on our message and ending on the candidate's.
        directions = ["outbound", "inbound", "outbound" if n % 2 else "inbound"]
        thread = EmailThread(
            organisation_id=owner.organisation_id,
            candidate=candidates[n % len(candidates)],
            owner=owner,
            subject=f"Platform Engineer interview {n}",
            visibility=visibilities[n % len(visibilities)],
            last_message_at=sent[-1],
            last_inbound_at=max(t for t, d in zip(sent, directions, strict=True) if d == "inbound"),
            last_outbound_at=max(
                t for t, d in zip(sent, directions, strict=True) if d == "outbound"
            ),
        )
        threads.append(thread)
        for m, (when, direction) in enumerate(zip(sent, directions, strict=True)):
            messages.append(
                EmailMessage(
                    thread=thread,
                    message_id_digest=f"{n:032x}{m:032x}",
                    message_id=f"<bench-{n}-{m}@example.com>",
                    direction=direction,
                    sender=owner if direction == "outbound" else None,
                    from_header="Candidate <candidate@example.com>",
                    to_header="Recruiter <recruiter@bench.test>",
                    subject=("Re: " if m else "") + thread.subject,
                    body_text="Thanks for getting back to me. " * 20,
                    snippet="Thanks for getting back to me.",
                    sent_at=when,
                )
            )
        if n % 4 == 0:
            seen.append(ThreadSeen(user=recruiters[0], thread=thread, seen_at=sent[-1]))
    EmailThread.objects.bulk_create(threads)
    EmailMessage.objects.bulk_create(messages)
    ThreadSeen.objects.bulk_create(seen)


@dataclass
class BenchTeam:
    recruiters: list["User"]  # five Team Members
    admin: "User"
    candidates: list["Candidate"]  # the others, over whom the list scenario spreads threads
    busy: "Candidate"  # the candidate whose Emails tab is fetched


def team_and_candidates(count: int) -> BenchTeam:
    """One organisation of five Team Members and an Admin, `count` candidates and one more
    (the busy one, whose Emails tab is measured), each with an address."""
    from accounts.models import Organisation, Role, User
    from candidates.models import Candidate, CandidateEmail

    organisation = Organisation.objects.create(
        name="Bench Co", slug="bench", email_provider="google"
    )
    recruiters = [
        User.objects.create_user(
            f"recruiter{n}@bench.test", "x", organisation=organisation, role=Role.TEAM_MEMBER
        )
        for n in range(5)
    ]
    admin = User.objects.create_user(
        "admin@bench.test", "x", organisation=organisation, role=Role.ADMIN
    )
    candidates = [
        Candidate.objects.create(organisation=organisation, full_name=f"Candidate {n:03}")
        for n in range(count)
    ]
    busy = Candidate.objects.create(organisation=organisation, full_name="Busy Candidate")
    for n, candidate in enumerate([*candidates, busy]):
        CandidateEmail.objects.create(
            organisation=organisation,
            candidate=candidate,
            address=f"candidate{n}@example.com",
            is_primary=True,
        )
    return BenchTeam(recruiters=recruiters, admin=admin, candidates=candidates, busy=busy)


def _measure(client, url: str, params: dict[str, str], runs: int) -> tuple[int, float, int]:
    """Queries of one fetch, median milliseconds of `runs`, and the page's size in KB."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url, params)  # warm-up
    assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    count = len(queries)  # read now: the next request clears the connection's query log
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, params)
        timings.append((time.perf_counter() - started) * 1000)
    return count, statistics.median(timings), len(response.content) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--instrument-templates", action="store_true")
    args = parser.parse_args()
    django_in(
        Path(tempfile.mkdtemp(prefix="threadline-bench-pages-")),
        instrument_templates=args.instrument_templates,
    )

    from django.test import Client
    from django.urls import reverse

    team = team_and_candidates(args.candidates)
    recruiters, admin, candidates, busy = team.recruiters, team.admin, team.candidates, team.busy
    clients = {}
    for label, user in (("Team Member", recruiters[0]), ("Admin", admin)):
        clients[label] = Client()
        clients[label].force_login(user)

    pages = {
        "list": (reverse("candidates:list"), {}),
        "list, awaiting our answer, by last email": (
            reverse("candidates:list"),
            {"activity": "awaiting", "sort": "activity_newest"},
        ),
        "Emails tab": (reverse("mailsync:emails", args=[busy.pk]), {}),
    }
    print(
        f"{args.candidates + 1} candidates; threads of {MESSAGES_PER_THREAD} messages; "
        f"median of {args.runs} runs; templates "
        + ("instrumented (test environment)" if args.instrument_templates else "as in production")
    )
    print(f"{'page':<42} {'viewer':<12} {'threads':>8} {'queries':>8} {'ms':>8} {'KB':>5}")
    for threads in (0, args.threads):
        if threads:
            _threads_for(candidates, recruiters=recruiters, count=threads)
            _threads_for([busy], recruiters=recruiters, count=threads, first=threads)
        for page, (url, params) in pages.items():
            for viewer, client in clients.items():
                queries, ms, size = _measure(client, url, params, args.runs)
                print(f"{page:<42} {viewer:<12} {threads:>8} {queries:>8} {ms:>8.1f} {size:>5}")


if __name__ == "__main__":
    main()
