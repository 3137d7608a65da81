"""Benchmark: calendar sync of many connected calendars through the sandbox, over real HTTP.

    .venv/bin/python bench/calendar_sync.py --provider google|microsoft|both
        [--calendars 1000] [--events 200] [--interviews 5]

N recruiters connect their calendar through the provider's real consent (Calendar scopes
plus the account's identity, uses_calendar on, uses_email off). Each calendar holds M
events, K of them Threadline interviews. The other events are written in bulk into the
sandbox's tables (busy meetings with attendees, as a working calendar has); the
interviews are sandbox events made by the sandbox's own calendar service with exactly the
properties mailsync/providers/google_calendar.py and graph_calendar.py write (the marker and the
interview's tag), with matching Interview / InterviewAttendee rows: 5,000 scheduling
calls through the product would measure scheduling, not sync.

Then three rounds of `calendar_sync_all` run in this process, against the sandbox served
by gunicorn (over HTTPS for Microsoft): the first round (a full read), a round with
nothing changed, and a round after one candidate per calendar answered an invitation (the
sandbox's invitation answer service). Each round prints API calls, quota units and answer
bytes per calendar (from the sandbox's request log), events returned against events in
the calendar, how many returned events are not ours (read from the logged answers: it
must be 0), SQL queries per calendar and seconds. Figures go to docs/benchmarks.md.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Before Django starts: the served sandbox keeps each answer (to prove what it sent), and
# the full read of Google calendars comes once a day, so that rounds 2 and 3 read changes
# only even when the run crosses an hour (the default period).
os.environ["SANDBOX_LOG_RESPONSE_BODIES"] = "1"
os.environ.setdefault("INTERVIEWS_CALENDAR_FULL_READ_SECONDS", "86400")

from bench.mail_sync import sandbox_served  # noqa: E402 (after the environment above)

TITLES = ["Standup", "1:1", "Pipeline review", "Lunch", "Hiring sync", "Client call", "Focus"]
ZONE = "Europe/London"


def _connect(user, address: str, provider_name: str):
    """The real authorization flow for the Calendar box: the provider's consent page
    (answered in-process, as a person would in a browser), then the code exchange over
    HTTP; the connection serves the calendar only."""
    from django.test import Client

    from mailsync.models import MailboxConnection
    from mailsync.providers import get_provider

    provider = get_provider(provider_name)
    redirect_uri = "http://127.0.0.1/mailbox/callback/"
    scopes = provider.identity_scopes()
    scopes += [s for s in provider.scopes_for_feature("calendar") if s not in scopes]
    url, _state, flow_state = provider.authorization_url(
        redirect_uri=redirect_uri, scopes=scopes, login_hint=address
    )
    consent = urlsplit(url)
    allow = {"google": "allow", "microsoft": "accept"}[provider_name]
    answer = Client(HTTP_HOST="127.0.0.1").post(
        f"{consent.path}?{consent.query}", {"decision": allow, "address": address}
    )
    callback = dict(parse_qsl(urlsplit(answer["Location"]).query))
    authorization = provider.exchange_code(
        redirect_uri=redirect_uri, callback_params=callback, flow_state=flow_state, scopes=scopes
    )
    return MailboxConnection.objects.create(
        user=user,
        organisation_id=user.organisation_id,
        provider=provider_name,
        account_address=authorization.account_address,
        granted_scopes=authorization.granted_scopes,
        credentials=json.dumps(authorization.credentials),
        cursor=authorization.cursor,
        uses_email=False,
        uses_calendar=True,
    )


def _tag_properties(provider: str, tag: str) -> dict[str, str]:
    """The private properties our provider code writes on an interview's event."""
    if provider == "google":
        from mailsync.providers import google_calendar as google

        return {google.THREADLINE_MARKER: "1", google.TAG_PROPERTY: tag}
    from mailsync.providers import graph_calendar as graph

    return {graph.MARKER_ID: "1", graph.TAG_ID: tag}


def _untagged_events(mailbox, *, count: int, rng: random.Random, now: datetime) -> list:
    """A working calendar's other events (busy meetings over the past and next months),
    last changed days ago, in the sandbox's shape for the mailbox's provider."""
    from sandbox import ids
    from sandbox.models import CalendarEvent
    from sandbox.services import history_ids_allocate

    first_seq = history_ids_allocate(mailbox, count)
    events = []
    for index in range(count):
        google = mailbox.provider == "google"
        provider_id = ids.google_event_id() if google else ids.graph_rest_id()
        start = (now + timedelta(days=rng.randint(-60, 60), hours=rng.randint(-8, 8))).replace(
            minute=rng.choice([0, 30]), second=0, microsecond=0
        )
        guests = [f"colleague{rng.randint(1, 400)}@acme.test" for _ in range(rng.randint(1, 4))]
        changed = now - timedelta(days=rng.randint(2, 90))
        events.append(
            CalendarEvent(
                mailbox=mailbox,
                provider_id=provider_id,
                ical_uid=f"{provider_id}@google.com" if google else f"{uuid.uuid4().hex}",
                summary=rng.choice(TITLES),
                description="Agenda in the doc." if index % 3 == 0 else "",
                start=start,
                end=start + timedelta(minutes=rng.choice([15, 30, 60])),
                time_zone=ZONE,
                organizer_email=mailbox.address,
                attendees=[{"email": mailbox.address, "responseStatus": "accepted"}]
                + [{"email": guest, "responseStatus": "accepted"} for guest in guests],
                changed_seq=first_seq + index,
                created_at=changed,
                updated_at=changed,
            )
        )
    return events


def build(*, provider: str, calendars: int, events: int, interviews: int) -> dict:
    """The organisation, its recruiters with their calendars connected, the calendars'
    events and the interviews; returns what the rounds need."""
    from django.utils import timezone

    from accounts.models import Organisation, Role, User
    from candidates.models import Candidate, CandidateEmail
    from interviews.models import Interview, InterviewAttendee
    from sandbox import services as sandbox
    from sandbox.calendars import event_make
    from sandbox.models import CalendarEvent

    rng = random.Random(11)
    now = timezone.now()
    organisation = Organisation.objects.create(
        name=f"Bench {provider}",
        slug=f"bench-{provider}",
        email_provider=provider,
        calendar_enabled=True,
    )
    started = time.perf_counter()
    connections = []
    for index in range(calendars):
        address = f"recruiter{index}.{provider}@acme.test"
        user = User.objects.create_user(
            address,
            "x",
            organisation=organisation,
            role=Role.TEAM_MEMBER,
            full_name=f"Recruiter {index}",
        )
        box = sandbox.mailbox_create(
            address=address, display_name=user.full_name, provider=provider
        )
        # Count the provider's limits, do not enforce them: the run measures our work.
        if provider == "google":
            sandbox.quota_set(mailbox=box, per_minute=10**9)
        else:
            sandbox.graph_limits_set(mailbox=box, per_ten_minutes=10**9, concurrent=None)
        connections.append((_connect(user, address, provider), box))
    consent_seconds = time.perf_counter() - started

    started = time.perf_counter()
    untagged = events - interviews
    batch: list = []
    for _connection, box in connections:
        batch += _untagged_events(box, count=untagged, rng=rng, now=now)
        if len(batch) >= 20_000:
            CalendarEvent.objects.bulk_create(batch, batch_size=2_000)
            batch = []
    CalendarEvent.objects.bulk_create(batch, batch_size=2_000)
    untagged_seconds = time.perf_counter() - started

    started = time.perf_counter()
    candidates = Candidate.objects.bulk_create(
        [
            Candidate(organisation=organisation, full_name=f"Candidate {index}")
            for index in range(calendars * interviews)
        ]
    )
    CandidateEmail.objects.bulk_create(
        [
            CandidateEmail(
                organisation=organisation,
                candidate=candidate,
                address=f"candidate{index}@example.com",
                is_primary=True,
            )
            for index, candidate in enumerate(candidates)
        ]
    )
    followed: list[Interview] = []
    answering: list[tuple[str, str]] = []  # (candidate address, iCalUID), one per calendar
    made = iter(enumerate(candidates))
    for connection, box in connections:
        for slot in range(interviews):
            index, candidate = next(made)
            address = f"candidate{index}@example.com"
            tag = uuid.uuid4().hex
            start = (now + timedelta(days=1 + slot, hours=2)).replace(
                minute=0, second=0, microsecond=0
            )
            title = f"Interview: {candidate.full_name}"
            event = event_make(
                mailbox=box,
                summary=title,
                start=start,
                end=start + timedelta(minutes=45),
                time_zone=ZONE,
                attendees=[address],
                online_meeting=True,
                description="Looking forward to speaking with you.",
                private_properties=_tag_properties(provider, tag),
            )
            if slot == 0:
                answering.append((address, event.ical_uid))
            followed.append(
                Interview(
                    organisation=organisation,
                    candidate=candidate,
                    organiser=connection.user,
                    connection=connection,
                    provider=provider,
                    provider_event_id=event.provider_id,
                    ical_uid=event.ical_uid,
                    tag=tag,
                    title=title,
                    starts_at=event.start,
                    ends_at=event.end,
                    time_zone=ZONE,
                    meeting_url=event.conference.get("url", ""),
                    synced_at=now,
                )
            )
    Interview.objects.bulk_create(followed, batch_size=2_000)
    people = []
    for interview in Interview.objects.filter(organisation=organisation).select_related(
        "organiser", "candidate"
    ):
        organiser = interview.organiser
        assert organiser is not None, "each bench interview has its recruiter"
        people += [
            InterviewAttendee(
                interview=interview,
                email=organiser.email,
                name=organiser.full_name,
                user=organiser,
                is_organiser=True,
                response=InterviewAttendee.Response.ACCEPTED,
            ),
            InterviewAttendee(
                interview=interview,
                email=f"candidate{int(interview.candidate.full_name.split()[-1])}@example.com",
                name=interview.candidate.full_name,
                is_candidate=True,
            ),
        ]
    InterviewAttendee.objects.bulk_create(people, batch_size=2_000)
    # Scheduled before this morning: a round that reads changes only does not see them.
    CalendarEvent.objects.filter(mailbox__in=[box for _c, box in connections]).filter(
        updated_at__gte=now - timedelta(minutes=1)
    ).update(updated_at=now - timedelta(days=1), created_at=now - timedelta(days=1))
    interviews_seconds = time.perf_counter() - started
    return {
        "connections": [connection for connection, _box in connections],
        "mailboxes": [box for _connection, box in connections],
        "answering": answering,
        "tagged_ids": {interview.provider_event_id for interview in followed},
        "setup_seconds": {
            "consent": round(consent_seconds, 1),
            "untagged_events_bulk": round(untagged_seconds, 1),
            "interviews": round(interviews_seconds, 1),
        },
    }


def _returned_ids(body: str, provider: str) -> list[str]:
    if not body:
        return []
    answer = json.loads(body)
    items = answer.get("items" if provider == "google" else "value") or []
    return [str(item.get("id", "")) for item in items]


def run_round(*, name: str, provider: str, world: dict, events_per_calendar: int) -> dict:
    from django.db import connection as database
    from django.db.models import Sum

    from interviews.models import Interview
    from interviews.services import calendar_sync_all
    from sandbox.models import RequestLog

    since = RequestLog.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # Counted as they run: Django's query log (CaptureQueriesContext) keeps the last 9,000.
    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with database.execute_wrapper(count):
        synced = calendar_sync_all()
    seconds = time.perf_counter() - started
    calls = RequestLog.objects.filter(id__gt=since, mailbox__in=world["mailboxes"])
    by_operation = Counter(calls.values_list("operation", flat=True))
    units = calls.aggregate(total=Sum("units"))["total"] or 0
    answered = calls.aggregate(total=Sum("response_bytes"))["total"] or 0
    returned: list[str] = []
    for body in calls.filter(operation__endswith="events.list").values_list(
        "response_body", flat=True
    ):
        returned += _returned_ids(body, provider)
    not_ours = sum(1 for event_id in returned if event_id not in world["tagged_ids"])
    per = max(synced, 1)
    answers = Interview.objects.filter(
        connection__in=world["connections"], attendees__is_candidate=True
    ).exclude(attendees__response="needs_action")
    return {
        "round": name,
        "calendars_synced": synced,
        "api_calls_per_calendar": round(calls.count() / per, 2),
        "api_calls_by_operation": dict(by_operation),
        # Google charges Calendar units per request; Graph counts requests per mailbox.
        **(
            {"quota_units_per_calendar": round(units / per, 2)}
            if provider == "google"
            else {"graph_requests_per_calendar": round(calls.count() / per, 2)}
        ),
        "response_bytes_per_calendar": round(answered / per),
        "events_in_each_calendar": events_per_calendar,
        "events_returned_per_calendar": round(len(returned) / per, 2),
        "untagged_events_returned": not_ours,
        "sql_queries_per_calendar": round(queries / per, 1),
        "seconds": round(seconds, 1),
        "ms_per_calendar": round(seconds * 1000 / per, 1),
        "interviews_with_a_candidate_answer": answers.count(),
    }


def _answer_one_per_calendar(world: dict) -> None:
    from sandbox.calendars import invitation_answer

    for address, ical_uid in world["answering"]:
        invitation_answer(email=address, ical_uid=ical_uid, answer="accepted")


def bench(provider: str, args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection as database

    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"database {database.vendor}; full read every "
        f"{settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS} s"
    )
    print(
        f"provider: {provider}; {args.calendars:,} calendars × {args.events} events, "
        f"{args.interviews} of them interviews (sandbox events with our marker and tag "
        "+ Interview rows; the other events bulk-written)"
    )
    world = build(
        provider=provider,
        calendars=args.calendars,
        events=args.events,
        interviews=args.interviews,
    )
    print("setup seconds:", json.dumps(world["setup_seconds"]))
    results = [
        run_round(
            name="1 first (full read)",
            provider=provider,
            world=world,
            events_per_calendar=args.events,
        ),
        run_round(
            name="2 nothing changed",
            provider=provider,
            world=world,
            events_per_calendar=args.events,
        ),
    ]
    _answer_one_per_calendar(world)
    results.append(
        run_round(
            name="3 one answer per calendar",
            provider=provider,
            world=world,
            events_per_calendar=args.events,
        )
    )
    for result in results:
        print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["google", "microsoft", "both"], default="both")
    parser.add_argument("--calendars", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--interviews", type=int, default=5)
    args = parser.parse_args()
    if args.interviews > args.events:
        parser.error("--interviews cannot exceed --events")

    if args.provider == "both":
        # Each provider on a fresh database in its own process (Django's settings, the
        # database among them, are fixed once a process has set up).
        for provider in ("google", "microsoft"):
            subprocess.run(  # noqa: S603 (this script again)
                [sys.executable, __file__, *sys.argv[1:], "--provider", provider],
                check=True,
            )
        return
    with sandbox_served(prefix="threadline-bench-calendar-"):
        bench(args.provider, args)


if __name__ == "__main__":
    main()
