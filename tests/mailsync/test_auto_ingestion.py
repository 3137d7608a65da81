"""Automatic ingestion (issue 12), on Gmail and on Outlook: when a user authorizes and
their organisation has the switch on at a level that reads mail, a background job brings
in their one-on-one conversations with the organisation's candidates from the year
before, active in the last six months; each rule excludes exactly what it says, nothing
of an excluded conversation is fetched whole or stored, the threads are private to their
owner, the job resumes after a worker dies without duplicates, and stays inside quota."""

import time

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Organisation
from candidates.models import EmailMessage, EmailThread
from mailsync.models import IngestionJob, MailboxThread, SyncedMessage
from mailsync.selectors import ingestion_job_latest
from mailsync.services import ingestion_jobs_resume, ingestion_run, ingestion_start
from mailsync.threadref import message_id_digest, new_message_id
from tests.mailsync import import_hooks
from tests.mailsync.import_hooks import WorkerKilled
from tests.mailsync.ingestion_helpers import DAY, NOW, conversation, mail

STRANGER = "someone@elsewhere.test"


@pytest.fixture(autouse=True)
def _tasks_run_in_process(tasks_in_process):
    pass


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=True):
        yield


def _switch_on(world, level: str = Organisation.SyncLevel.FULL, *, on: bool = True) -> None:
    organisation = world.team.organisation
    organisation.auto_ingestion_enabled = on
    organisation.email_sync_level = level
    organisation.save(update_fields=["auto_ingestion_enabled", "email_sync_level"])


def _job(world) -> IngestionJob:
    return IngestionJob.objects.get(mailbox__user=world.recruiter)


def _ingested_subjects(world) -> set[str]:
    return set(
        EmailThread.objects.filter(
            owner=world.recruiter, origin=EmailThread.Origin.INGESTED
        ).values_list("subject", flat=True)
    )


def _thread(subject: str) -> EmailThread:
    """Subjects are encrypted at rest: found by reading, not by a query."""
    (found,) = [thread for thread in EmailThread.objects.all() if thread.subject == subject]
    return found


def test_each_rule_excludes_exactly_what_it_says(world):
    _switch_on(world)
    recent = [NOW - 20 * DAY, NOW - 19 * DAY]
    candidate, own_domain = world.candidate_address, "peer@acme.test"
    conversation(world, candidate, "One on one", recent)
    conversation(world, candidate, "With a cc", recent, cc=(STRANGER,))
    conversation(world, candidate, "With a bcc", recent, bcc=("hidden@elsewhere.test",))
    conversation(world, own_domain, "A colleague", recent)
    conversation(world, STRANGER, "Not a candidate", recent)
    # A candidate address as part of a longer one: Graph's participants search (and a
    # careless matcher) finds it; the rule does not take it for the candidate.
    lookalike = f"x{candidate}"
    conversation(world, lookalike, "Lookalike", recent)
    # A conversation the recruiter started in Threadline (under Send only, say) with the
    # candidate's other address, which Threadline does not know.
    started = EmailThread.objects.create(
        organisation=world.team.organisation,
        candidate=world.candidate,
        owner=world.recruiter,
        subject="From Threadline",
        visibility=EmailThread.Visibility.TEAM,
    )
    sent_id = new_message_id(started.pk)
    EmailMessage.objects.create(
        thread=started,
        message_id=sent_id,
        message_id_digest=message_id_digest(sent_id),
        direction=EmailMessage.Direction.OUTBOUND,
        status=EmailMessage.Status.SENT,
        sender=world.recruiter,
        subject="From Threadline",
        body_text="Sent from Threadline.",
        sent_at=NOW - 30 * DAY,
    )
    personal = "ada.personal@elsewhere.test"
    mail(
        world,
        sender=world.recruiter.email,
        to=[personal],
        at=NOW - 30 * DAY,
        subject="From Threadline",
        message_id=sent_id,
    )
    mail(
        world,
        sender=personal,
        to=[world.recruiter.email],
        at=NOW - 29 * DAY,
        subject="From Threadline",
        replying_to=sent_id,
        body="Answered from my personal address.",
    )

    world.connect()

    job = _job(world)
    assert job.state == IngestionJob.State.DONE
    assert _ingested_subjects(world) == {"One on one"}
    ingested = _thread("One on one")
    assert ingested.candidate == world.candidate
    assert ingested.messages.count() == 2
    # The conversation started in Threadline got its reply, in its own thread.
    bodies = list(started.messages.order_by("sent_at").values_list("body_text", flat=True))
    assert len(bodies) == 2
    assert bodies[0] == "Sent from Threadline."
    assert "Answered from my personal address." in bodies[1]
    assert (job.ingested, job.messages_ingested) == (2, 3)
    assert job.skipped_group == 2
    # The colleague and the stranger are never even listed: only candidates are searched.
    assert job.skipped_own_domain == 0
    assert job.skipped_not_candidate == 1  # the lookalike
    # Nothing of the excluded conversations was fetched whole or stored.
    assert world.whole_fetches().count() == 4
    stored = set(EmailMessage.objects.values_list("subject", flat=True))
    assert stored == {"One on one", "Re: One on one", "From Threadline", "Re: From Threadline"}
    # Header reads asked for no snippet, subject or body.
    for call in world.log(operation="gmail.users.threads.get"):
        assert "snippet" not in call.fields
    assert ingestion_job_latest(job.mailbox) == job


def test_a_candidate_conversation_in_the_users_own_domain_is_left_out(world):
    """A candidate who uses the recruiter's own domain (an internal applicant): the
    conversation is found by the candidate search and left out by the own-domain rule."""
    _switch_on(world)
    world.candidate.emails.create(
        organisation=world.team.organisation, address="applicant@acme.test"
    )
    conversation(world, "applicant@acme.test", "Internal move", [NOW - 3 * DAY, NOW - 2 * DAY])

    world.connect()

    job = _job(world)
    assert (job.state, job.found, job.skipped_own_domain, job.ingested) == ("done", 1, 1, 0)
    assert not EmailMessage.objects.exists()
    assert world.whole_fetches().count() == 0


def test_the_year_and_the_six_months_are_counted_from_authorization(world):
    _switch_on(world)
    year_ago, half_year_ago = NOW.replace(year=2025), NOW.replace(month=9, year=2025)
    candidate = world.candidate_address
    # Active a day inside the six months; a message a day before the year is left out,
    # one a day inside it comes in.
    conversation(
        world,
        candidate,
        "Long running",
        [year_ago - DAY, year_ago + DAY, half_year_ago + DAY],
    )
    # Nothing for six months and a day.
    conversation(world, candidate, "Gone quiet", [year_ago + 2 * DAY, half_year_ago - DAY])
    # Nothing for longer than a year.
    conversation(world, candidate, "Ancient", [year_ago - 3 * DAY, year_ago - 2 * DAY])

    world.connect()

    job = _job(world)
    assert abs(job.since - year_ago) < DAY / 24
    assert abs(job.active_since - half_year_ago) < DAY / 24
    # The thread takes its subject from the first message it holds (the year's first).
    assert _ingested_subjects(world) == {"Re: Long running"}
    thread = _thread("Re: Long running")
    bodies = sorted(thread.messages.values_list("body_text", flat=True))
    assert [body.strip() for body in bodies] == [
        "Long running, message 1.",
        "Long running, message 2.",
    ]
    assert job.skipped_inactive == 1  # "Ancient" is never listed: the search starts a year back
    assert job.messages_ingested == 2
    assert world.whole_fetches().count() == 2


def test_ingested_threads_are_private_to_their_owner(world, client_for):
    _switch_on(world)
    conversation(world, world.candidate_address, "Just us two", [NOW - 5 * DAY, NOW - 4 * DAY])

    world.connect()

    thread = _thread("Just us two")
    assert thread.visibility == EmailThread.Visibility.PRIVATE
    assert thread.owner == world.recruiter
    assert thread.origin == EmailThread.Origin.INGESTED
    page = reverse("mailsync:emails", args=[world.candidate.pk])
    assert "Just us two" in world.client.get(page).content.decode()
    for role in ("super_admin", "admin"):
        seen = client_for(world.team.by_role(role)).get(page)
        assert seen.status_code == 200
        assert "Just us two" not in seen.content.decode()


def test_a_killed_worker_resumes_without_loss_or_duplicates(world, settings):
    settings.MAILSYNC_IMPORT_LEASE_SECONDS = 0  # a dead worker's hold has run out at once
    _switch_on(world)
    # More conversations than one step judges (20).
    for index in range(25):
        conversation(
            world,
            world.candidate_address,
            f"Topic {index}",
            [NOW - (40 - index) * DAY, NOW - (39 - index) * DAY],
        )
    import_hooks.once(lambda: _job(world).ingested > 0, import_hooks.kill_worker)

    with pytest.raises(WorkerKilled):
        world.connect()

    job = _job(world)
    assert (job.state, job.found, job.ingested) == ("running", 25, 20)
    fetched_before = world.whole_fetches().count()
    assert fetched_before == 40

    assert ingestion_jobs_resume() == 1

    job.refresh_from_db()
    assert (job.state, job.found, job.ingested, job.messages_ingested) == ("done", 25, 25, 50)
    assert job.already_there == 0
    assert EmailMessage.objects.count() == 50
    assert SyncedMessage.objects.count() == 50
    assert MailboxThread.objects.count() == 25
    assert world.whole_fetches().count() - fetched_before == 10
    assert ingestion_run(job_id=job.pk).state == "done"  # a late redelivery does nothing
    # Starting again finds everything already there, and fetches nothing whole.
    again = ingestion_start(mailbox=job.mailbox)
    assert again is not None
    again.refresh_from_db()
    assert (again.state, again.found, again.already_there, again.ingested) == ("done", 25, 25, 0)
    assert world.whole_fetches().count() - fetched_before == 10


def test_ingestion_stays_inside_the_quota(world, settings, slept):
    settings.MAILSYNC_IMPORT_GMAIL_UNITS_PER_SECOND = 50
    settings.MAILSYNC_IMPORT_GRAPH_REQUESTS_PER_SECOND = 5
    budget = 50 if world.kit.name == "google" else 5
    _switch_on(world)
    for index in range(30):
        conversation(
            world, world.candidate_address, f"Topic {index}", [NOW - 9 * DAY, NOW - 8 * DAY]
        )
    began = time.monotonic()
    world.connect()
    elapsed = time.monotonic() - began

    assert _job(world).ingested == 30
    calls = world.log().filter(created_at__gte=NOW)
    # Gmail counts quota units; Graph counts requests (its $batch parts one by one), and
    # the sign-in's calls to the identity platform are not Graph's.
    spent = (
        sum(calls.values_list("units", flat=True))
        if world.kit.name == "google"
        else calls.exclude(operation="graph.batch")
        .exclude(operation__startswith="identity.")
        .count()
    )
    assert spent > budget  # enough work to need pacing
    # Waits recorded (not slept) plus the time really spent cover the units at the budget.
    assert spent <= budget * (sum(slept) + elapsed) + budget
    assert not world.log(status=429).exists()


def test_nothing_happens_with_ingestion_off(world):
    _switch_on(world, on=False)
    conversation(world, world.candidate_address, "One on one", [NOW - 5 * DAY, NOW - 4 * DAY])

    world.connect()

    assert not IngestionJob.objects.exists()
    assert not EmailThread.objects.exists()
    assert not world.log(operation__in=["gmail.users.messages.list", "graph.messages.list"])
    assert ingestion_start(mailbox=world.recruiter.mailbox) is None


def test_nothing_is_ingested_under_send_only(world):
    _switch_on(world, Organisation.SyncLevel.LIMITED)
    conversation(world, world.candidate_address, "One on one", [NOW - 5 * DAY, NOW - 4 * DAY])

    world.connect()

    assert not IngestionJob.objects.exists()
    assert not EmailThread.objects.exists()


def test_only_one_job_per_mailbox_at_a_time(world):
    _switch_on(world)
    world.connect()
    job = _job(world)
    IngestionJob.objects.filter(pk=job.pk).update(state=IngestionJob.State.RUNNING)

    assert ingestion_start(mailbox=job.mailbox) is None
    assert IngestionJob.objects.count() == 1


def test_beat_sweeps_for_ingestion_jobs_a_stopped_worker_left(db):
    from django_celery_beat.models import PeriodicTask

    sweep = PeriodicTask.objects.get(task="mailsync.tasks.resume_ingestion_jobs")
    assert sweep.enabled


def test_view_only_ingests_with_read_only_scopes_and_labels_nothing(world):
    _switch_on(world, Organisation.SyncLevel.VIEW)
    conversation(world, world.candidate_address, "Read only", [NOW - 5 * DAY, NOW - 4 * DAY])

    world.connect()

    assert _job(world).state == IngestionJob.State.DONE
    assert _ingested_subjects(world) == {"Read only"}
    # View only never writes to the mailbox: no label or category, not even created.
    writes = ("modify", "batchModify", "labels.create", "masterCategories", "messages.patch")
    assert not [op for op in world.log().values_list("operation", flat=True) if op.endswith(writes)]


def test_turning_the_switch_on_starts_ingestion_for_users_already_connected(world, client_for):
    _switch_on(world, on=False)
    conversation(world, world.candidate_address, "Before the switch", [NOW - 5 * DAY])
    world.connect()
    assert not IngestionJob.objects.exists()

    response = client_for(world.team.super_admin).post(
        reverse("inbound:company_settings"),
        {"form": "auto_ingestion", "auto_ingestion_enabled": "on"},
        follow=True,
    )

    assert "Started for 1 connected user." in response.content.decode()
    assert _job(world).state == IngestionJob.State.DONE
    assert _ingested_subjects(world) == {"Before the switch"}
