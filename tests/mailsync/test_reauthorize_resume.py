"""Deauthorize and come back (issue 12), on Gmail and on Outlook: deauthorizing keeps what
was synced and stops fetching; re-authorizing within six months resumes from the stored
cursor, so what arrived meanwhile comes in with the next sync and no new ingestion runs;
after six months the cursor starts afresh and a new historical ingestion brings in the
year before (what arrived meanwhile included)."""

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.urls import reverse

from candidates.models import EmailMessage, EmailThread
from mailsync.models import IngestionJob, MailboxConnection
from tests.mailsync.ingestion_helpers import DAY, NOW, conversation, mail


@pytest.fixture(autouse=True)
def _tasks_run_in_process(tasks_in_process):
    pass


def _connected_with_one_conversation(world) -> tuple[MailboxConnection, list[str]]:
    """Ingestion on; the recruiter authorizes at NOW with a conversation with the
    candidate in their mailbox, which ingestion brings in; then they disconnect."""
    organisation = world.team.organisation
    organisation.auto_ingestion_enabled = True
    organisation.save(update_fields=["auto_ingestion_enabled"])
    with time_machine.travel(NOW, tick=True):
        ids = conversation(
            world, world.candidate_address, "Catching up", [NOW - 3 * DAY, NOW - 2 * DAY]
        )
        world.connect()
        assert EmailMessage.objects.count() == 2
        mailbox = MailboxConnection.objects.get(user=world.recruiter)
        assert mailbox.cursor
        world.client.post(reverse("mailsync:disconnect"))
    mailbox.refresh_from_db()
    return mailbox, ids


def _candidate_answers(world, ids: list[str], at) -> None:
    mail(
        world,
        sender=world.candidate_address,
        to=[world.recruiter.email],
        at=at,
        subject="Catching up",
        replying_to=ids[-1],
        body="Written while you were away.",
    )


def test_deauthorizing_keeps_what_was_synced_and_stops_fetching(world):
    mailbox, ids = _connected_with_one_conversation(world)

    assert mailbox.state == MailboxConnection.State.DISCONNECTED
    assert mailbox.deauthorized_at is not None
    assert abs(mailbox.deauthorized_at - NOW) < DAY / 24
    assert mailbox.cursor  # kept for coming back
    with time_machine.travel(NOW + 10 * DAY, tick=True):
        _candidate_answers(world, ids, NOW + 10 * DAY)
        calls = world.log().count()
        world.sync()
        assert world.log().count() == calls  # not a single call to the provider
    assert EmailMessage.objects.count() == 2
    assert EmailThread.objects.filter(origin=EmailThread.Origin.INGESTED).count() == 1


def test_back_within_six_months_resumes_from_the_cursor(world):
    mailbox, ids = _connected_with_one_conversation(world)
    cursor = mailbox.cursor
    back = mailbox.deauthorized_at + relativedelta(months=6) - DAY
    with time_machine.travel(NOW + 30 * DAY, tick=True):
        _candidate_answers(world, ids, NOW + 30 * DAY)

    with time_machine.travel(back, tick=True):
        mailbox = world.connect()
        assert mailbox.cursor == cursor
        assert mailbox.deauthorized_at is None
        # No second historical ingestion: the cursor covers the time away.
        assert IngestionJob.objects.count() == 1
        report = world.sync()

    assert report.stored == 1
    thread = EmailThread.objects.get(origin=EmailThread.Origin.INGESTED)
    bodies = [body.strip() for body in thread.messages.values_list("body_text", flat=True)]
    assert "Written while you were away." in bodies
    assert EmailMessage.objects.count() == 3


def test_back_after_six_months_starts_afresh_with_a_new_ingestion(world):
    mailbox, ids = _connected_with_one_conversation(world)
    cursor = mailbox.cursor
    back = mailbox.deauthorized_at + relativedelta(months=6) + DAY
    with time_machine.travel(NOW + 60 * DAY, tick=True):
        _candidate_answers(world, ids, NOW + 60 * DAY)

    with time_machine.travel(back, tick=True):
        mailbox = world.connect()

        assert mailbox.cursor != cursor
        jobs = list(IngestionJob.objects.order_by("created_at"))
        assert len(jobs) == 2
        latest = jobs[-1]
        assert latest.state == IngestionJob.State.DONE
        assert abs(latest.since - (back - relativedelta(years=1))) < DAY / 24
        # The conversation is already in Threadline; what arrived meanwhile comes in.
        assert (latest.found, latest.ingested, latest.messages_ingested) == (1, 1, 1)
        # Nothing from before the new cursor is listed by sync again.
        assert world.sync().stored == 0

    thread = EmailThread.objects.get(origin=EmailThread.Origin.INGESTED)
    assert thread.messages.count() == 3
    assert EmailMessage.objects.count() == 3
