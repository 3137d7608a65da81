"""Import candidate email as a background job, on Gmail and on Outlook: it pages through
the whole correspondence (no cap), shows its progress, can be cancelled, never runs twice
for one user and candidate, resumes after a worker dies, stays inside the provider's
quota, and is refused with the reason under limited sync."""

import email.policy
import email.utils
from email.message import EmailMessage as Mime

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from accounts.models import Organisation
from candidates.models import EmailMessage, EmailThread
from mailsync.models import ImportJob, RemovedMessage, SyncedMessage
from mailsync.services import candidate_import_run, candidate_import_start, import_jobs_resume
from sandbox import services as sandbox
from sandbox.models import Message
from tests.mailsync import import_hooks
from tests.mailsync.import_hooks import WorkerKilled


@pytest.fixture(autouse=True)
def _tasks_run_in_process(tasks_in_process):
    pass


def _import(world, **data):
    return world.client.post(
        reverse("mailsync:email_import", args=[world.candidate.pk]), data, follow=True
    )


def _job(world) -> ImportJob:
    return ImportJob.objects.get(user=world.recruiter, candidate=world.candidate)


def _searched(world) -> bool:
    """The job has listed everything and fetched nothing yet."""
    job = _job(world)
    return job.found > 0 and job.imported == 0 and not _still_searching(job)


def _one_batch_in(world) -> bool:
    return _job(world).imported > 0


def _still_searching(job: ImportJob) -> bool:
    checkpoint = job.checkpoint
    return checkpoint.get("address_index", 0) < len(checkpoint.get("addresses", []))


def _candidate_wrote(world, count: int) -> None:
    """`count` messages from the candidate in the recruiter's inbox, each its own thread,
    stored straight into the sandbox mailbox (quickly, as an old inbox is)."""
    for index in range(count):
        message = Mime(policy=email.policy.SMTP)
        message["From"] = email.utils.formataddr(
            (world.candidate.full_name, world.candidate_address)
        )
        message["To"] = world.recruiter.email
        message["Subject"] = f"Note {index}"
        message["Message-ID"] = email.utils.make_msgid(domain="candidate.test")
        message["Date"] = email.utils.formatdate(1_700_000_000 + index * 60)
        message.set_content(f"Note number {index}.")
        sandbox.message_insert(
            mailbox=world.recruiter_box,
            raw=message.as_bytes(),
            labels=["INBOX"],
            internal_date=(1_700_000_000 + index * 60) * 1000,
        )


def test_import_brings_every_conversation_with_the_candidate(world):
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Referral", "Hi, Bob referred me.")
    world.reply(world.recruiter_box, world.candidate_address, "Thanks! Let's talk.")
    world.write(world.candidate_box, world.recruiter.email, "Portfolio", "Here it is.")
    other = world.write(world.recruiter_box, "someone@else.test", "Lunch", "Pizza?")

    page = _import(world).content.decode()

    job = _job(world)
    assert (job.state, job.found, job.imported, job.threads) == ("finished", 3, 3, 2)
    assert "Import finished" in page
    assert "3 new messages in 2 threads" in page
    finished = LogEntry.objects.get(object_pk=str(job.pk), additional_data__event="import_finished")
    assert finished.actor == world.recruiter
    assert finished.additional_data["candidate"] == str(world.candidate.pk)
    assert (finished.additional_data["found"], finished.additional_data["imported"]) == (3, 3)
    assert "Referral" not in str(finished.additional_data) + finished.object_repr
    threads = EmailThread.objects.filter(candidate=world.candidate)
    assert {t.subject for t in threads} == {"Referral", "Portfolio"}
    assert all(t.owner == world.recruiter and t.visibility == "private" for t in threads)
    assert all(t.origin == EmailThread.Origin.IMPORTED for t in threads)
    assert "Hi, Bob referred me." in page
    assert "Pizza?" not in page
    labelled = {
        m.subject
        for m in Message.objects.filter(mailbox=world.recruiter_box)
        if world.kit.own_label_on(m)
    }
    assert "Lunch" not in labelled and "Referral" in labelled
    assert other.subject == "Lunch"

    again = _import(world).content.decode()

    second = ImportJob.objects.filter(user=world.recruiter).latest("created_at")
    assert (second.found, second.imported, second.already_there) == (3, 0, 3)
    assert "0 new messages" in again
    assert EmailThread.objects.filter(candidate=world.candidate).count() == 2


def test_a_thread_the_candidate_started_says_started_by_the_candidate(world):
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Referral", "Hi, Bob referred me.")
    world.reply(world.recruiter_box, world.candidate_address, "Thanks! Let's talk.")

    page = _import(world).content.decode()

    assert f"Started by {world.candidate.full_name}" in page
    assert f"Started by {world.recruiter.full_name}" not in page


def test_an_import_of_more_than_500_messages_completes_with_correct_counts(world, settings):
    settings.MAILSYNC_IMPORT_GRAPH_REQUESTS_PER_SECOND = 10_000
    world.connect()
    _candidate_wrote(world, 520)
    world.write(world.recruiter_box, "someone@else.test", "Lunch", "Pizza?")

    _import(world)

    job = _job(world)
    assert (job.state, job.found, job.imported, job.already_there, job.skipped) == (
        "finished",
        520,
        520,
        0,
        0,
    )
    assert job.threads == 520
    assert job.checkpoint["pending"] == []
    assert EmailMessage.objects.filter(thread__candidate=world.candidate).count() == 520
    # Each message fetched once, in batches, with the search paged (Gmail: 500 a page).
    assert world.whole_fetches().count() == 520


def test_the_progress_panel_shows_the_counts_while_the_job_runs(world, settings):
    settings.MAILSYNC_IMPORT_GRAPH_REQUESTS_PER_SECOND = 10_000
    settings.MAILSYNC_BATCH_SIZE = 5  # Gmail's fetch batch; Outlook fetches 4 at a time
    world.connect()
    _candidate_wrote(world, 12)
    seen = []

    def look() -> None:
        job = _job(world)
        url = reverse("mailsync:email_import_progress", args=[world.candidate.pk, job.pk])
        seen.append(world.client.get(url).content.decode())

    import_hooks.once(lambda: _searched(world), look)
    import_hooks.once(lambda: _one_batch_in(world), look)
    _import(world)

    searched, one_batch = seen
    assert 'hx-trigger="every 1s"' in one_batch
    assert '<dd data-count="found">12</dd>' in searched
    assert '<dd data-count="remaining">12</dd>' in searched
    imported = EmailMessage.objects.count()
    assert imported == 12
    first_batch = 5 if world.kit.name == "google" else 4
    assert f'<dd data-count="imported">{first_batch}</dd>' in one_batch
    assert f'<dd data-count="remaining">{12 - first_batch}</dd>' in one_batch
    assert "Cancel import" in one_batch
    ended = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).content.decode()
    assert "Import finished" in ended and 'hx-trigger="every 1s"' not in ended


def test_cancel_stops_the_job_before_its_next_batch(world, settings):
    settings.MAILSYNC_BATCH_SIZE = 4
    world.connect()
    _candidate_wrote(world, 12)

    def cancel() -> None:
        job = _job(world)
        world.client.post(
            reverse("mailsync:email_import_cancel", args=[world.candidate.pk, job.pk])
        )

    import_hooks.once(lambda: _one_batch_in(world), cancel)
    page = _import(world).content.decode()

    job = _job(world)
    assert (job.state, job.found, job.imported) == ("cancelled", 12, 4)
    assert EmailMessage.objects.count() == 4
    assert "Import cancelled" in page
    events = [e.additional_data["event"] for e in LogEntry.objects.filter(object_pk=str(job.pk))]
    assert sorted(events) == ["import_cancelled", "import_started"]
    cancelled = LogEntry.objects.get(
        object_pk=str(job.pk), additional_data__event="import_cancelled"
    )
    assert cancelled.additional_data["imported"] == 4
    assert cancelled.actor == world.recruiter


def test_a_second_start_while_one_runs_returns_the_same_job(world):
    world.connect()
    _candidate_wrote(world, 3)
    again = []
    import_hooks.once(
        lambda: True,
        lambda: again.append(
            candidate_import_start(actor=world.recruiter, candidate=world.candidate)
        ),
    )

    _import(world)

    job = _job(world)  # exactly one job, or this raises
    assert again == [job]
    assert job.state == "finished" and job.imported == 3
    assert EmailMessage.objects.count() == 3


def test_a_job_whose_worker_was_killed_resumes_without_loss_or_duplicates(world, settings):
    settings.MAILSYNC_BATCH_SIZE = 4
    settings.MAILSYNC_IMPORT_LEASE_SECONDS = 0  # a dead worker's hold has run out at once
    world.connect()
    _candidate_wrote(world, 10)
    # The worker dies after the search and one batch of 4.
    import_hooks.once(lambda: _one_batch_in(world), import_hooks.kill_worker)

    with pytest.raises(WorkerKilled):
        candidate_import_start(actor=world.recruiter, candidate=world.candidate)

    job = _job(world)
    assert (job.state, job.found, job.imported) == ("running", 10, 4)
    assert len(job.checkpoint["pending"]) == 6
    fetched_before = world.whole_fetches().count()

    assert import_jobs_resume() == 1  # beat's sweep queues it again; the task runs it

    job.refresh_from_db()
    assert (job.state, job.found, job.imported, job.already_there) == ("finished", 10, 10, 0)
    assert EmailMessage.objects.count() == 10
    assert SyncedMessage.objects.count() == 10
    assert world.whole_fetches().count() - fetched_before == 6
    assert candidate_import_run(job_id=job.pk).state == "finished"  # a late redelivery


def test_a_job_another_worker_holds_is_left_alone(world):
    world.connect()
    _candidate_wrote(world, 2)
    import_hooks.once(
        lambda: True, lambda: outcomes.append(candidate_import_run(job_id=_job(world).pk))
    )
    outcomes: list = []

    _import(world)

    assert [outcome.state for outcome in outcomes] == ["busy"]
    assert _job(world).imported == 2


def test_nothing_found_says_why_and_offers_to_add_an_address(world):
    world.connect()
    world.write(world.recruiter_box, "someone@else.test", "Lunch", "Pizza?")

    page = _import(world).content.decode()

    assert "Nothing found" in page
    assert "Make sure the address on the profile matches the one in your Sent folder." in page
    assert reverse("candidates:add_email", args=[world.candidate.pk]) in page


def test_import_is_disabled_with_the_reason_under_limited_sync(world):
    organisation = world.team.organisation
    organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    organisation.save(update_fields=["email_sync_level"])
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Referral", "Hi, Bob referred me.")

    tab = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).content.decode()
    response = _import(world).content.decode()

    assert 'disabled aria-describedby="import-unavailable"' in tab
    assert "Threadline has no permission to read mailboxes" in tab
    assert 'class="address-sync" disabled' in tab
    assert "no permission to read mailboxes" in response
    assert not ImportJob.objects.exists()
    assert not EmailThread.objects.filter(candidate=world.candidate).exists()


def test_a_throttled_import_waits_as_the_provider_asks_and_stays_inside_the_quota(
    gmail_world, settings, slept
):
    world = gmail_world
    settings.MAILSYNC_IMPORT_GMAIL_UNITS_PER_SECOND = 10
    world.connect()
    _candidate_wrote(world, 60)
    sandbox.fault_set(mailbox=world.recruiter_box, count=1, status=429)

    _import(world)

    job = _job(world)
    assert (job.state, job.imported) == ("finished", 60)
    # One 429 (the injected one), waited out, and none of the provider's own.
    assert world.log(status=429).count() == 1
    # Paced: a batch of 50 messages (250 units) takes at least 25 s at 10 units a second.
    assert any(wait > 20 for wait in slept)


@pytest.mark.parametrize("role", ["super_admin", "admin", "limited"])
def test_others_never_see_or_cancel_someone_elses_import(gmail_world, client_for, role):
    world = gmail_world
    world.connect()
    _candidate_wrote(world, 1)
    _import(world)
    job = _job(world)
    other = client_for(world.team.by_role(role))
    progress = reverse("mailsync:email_import_progress", args=[world.candidate.pk, job.pk])
    cancel = reverse("mailsync:email_import_cancel", args=[world.candidate.pk, job.pk])

    assert other.get(progress).status_code == 404
    assert other.post(cancel).status_code == 404
    assert (
        str(job.pk)
        not in other.get(reverse("mailsync:emails", args=[world.candidate.pk])).content.decode()
    )
    assert world.client.get(progress).status_code == 200


def test_bringing_removed_mail_back_needs_the_confirmation(gmail_world):
    world = gmail_world
    mailbox = world.connect()
    _candidate_wrote(world, 2)
    _import(world)
    copy = SyncedMessage.objects.select_related("message").first()
    RemovedMessage.objects.create(
        organisation=world.team.organisation,
        candidate=world.candidate,
        message_id_digest=copy.message.message_id_digest,
        mailbox=mailbox,
        provider_message_id=copy.provider_message_id,
        removed_by=world.recruiter,
    )
    copy.message.delete()  # what removing it from Threadline does
    tab = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).content.decode()
    assert "Also bring back 1 removed email" in tab

    kept_out = _import(world)
    job = ImportJob.objects.filter(user=world.recruiter).latest("created_at")
    assert (job.removed_kept_out, job.imported) == (1, 0)
    unconfirmed = _import(world, include_removed="on").content.decode()
    assert "Tick this to confirm" in unconfirmed
    assert RemovedMessage.objects.count() == 1

    _import(world, include_removed="on", confirm_removed="on")

    job = ImportJob.objects.filter(user=world.recruiter).latest("created_at")
    assert (job.include_removed, job.imported, job.removed_kept_out) == (True, 1, 0)
    assert not RemovedMessage.objects.exists()
    assert kept_out.status_code == 200


def test_beat_sweeps_for_import_jobs_a_stopped_worker_left(db):
    from django_celery_beat.models import PeriodicTask

    sweep = PeriodicTask.objects.get(task="mailsync.tasks.resume_import_jobs")
    assert sweep.enabled


def test_a_queued_job_cancelled_before_a_worker_took_it_never_runs(gmail_world):
    world = gmail_world
    mailbox = world.connect()
    _candidate_wrote(world, 2)
    job = ImportJob.objects.create(user=world.recruiter, candidate=world.candidate, mailbox=mailbox)

    world.client.post(reverse("mailsync:email_import_cancel", args=[world.candidate.pk, job.pk]))
    outcome = candidate_import_run(job_id=job.pk)  # the worker's delivery, late

    job.refresh_from_db()
    assert (job.state, outcome.state, job.found) == ("cancelled", "cancelled", 0)
    assert not world.log(operation="gmail.users.messages.list").exists()


def test_an_import_whose_grant_was_revoked_fails_with_the_reason_and_is_audited(world):
    world.connect()
    _candidate_wrote(world, 3)
    world.revoke_grant()  # the user removed Threadline's access at the provider

    _import(world)  # the worker runs the job at once here (tasks run in process)

    job = _job(world)
    assert job.state == ImportJob.State.FAILED
    assert "re-authorization" in job.error
    ended = LogEntry.objects.get(object_pk=str(job.pk), additional_data__event="import_failed")
    assert ended.actor == world.recruiter
    tab = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).content.decode()
    assert "Import stopped" in tab and "re-authorization" in tab
