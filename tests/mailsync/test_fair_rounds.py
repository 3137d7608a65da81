"""A mailbox with a backlog bigger than one round (back from an outage, a burst of mail)
syncs it in several rounds, each saving its place after a page of changes and queueing
the rest behind the other mailboxes' rounds: nothing is missed, nothing stored twice."""

import pytest

from candidates.models import EmailMessage
from mailsync.models import MailboxConnection
from mailsync.sending import Draft
from mailsync.services import message_send
from mailsync.tasks import sync_mailbox

REPLIES = 7


@pytest.fixture
def backlog(world, settings):
    """The recruiter wrote to the candidate, who answered seven times since the last
    round; changes come two to a page and a round reads three messages at most."""
    world.connect()
    message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Next steps", body_text="Hello"),
    )
    world.sync()
    for n in range(REPLIES):
        world.reply(world.candidate_box, world.recruiter.email, f"Answer {n}")
    settings.MAILSYNC_CHANGES_PAGE_SIZE = 2
    settings.MAILSYNC_ROUND_MAX_MESSAGES = 3
    return world


def _answers() -> list[str]:
    bodies = EmailMessage.objects.filter(direction="inbound").values_list("body_text", flat=True)
    return sorted(body.strip() for body in bodies)


def test_each_round_stops_after_its_share_and_the_next_goes_on_from_there(backlog):
    cursors = [MailboxConnection.objects.get(user=backlog.recruiter).cursor]
    rounds = []
    while not rounds or rounds[-1].more:
        assert len(rounds) < 10, "a round that never finishes its backlog"
        rounds.append(backlog.sync())
        cursors.append(MailboxConnection.objects.get(user=backlog.recruiter).cursor)

    assert len(rounds) >= 2 and rounds[0].stored < REPLIES
    assert all(report.status == "ok" for report in rounds)
    assert all(report.seen <= 4 for report in rounds[:-1])  # three, rounded up to a page
    assert sum(report.stored for report in rounds) == REPLIES
    assert _answers() == [f"Answer {n}" for n in range(REPLIES)]
    # Every round moved the cursor on: none read again what the one before had read.
    assert len(set(cursors)) == len(cursors)


def test_the_task_queues_the_rest_of_a_backlog_until_it_is_all_in(
    backlog, tasks_in_process, caplog
):
    mailbox = MailboxConnection.objects.get(user=backlog.recruiter)

    with caplog.at_level("INFO", logger="mailsync.rounds"):
        sync_mailbox.delay(mailbox.pk)

    rounds = [r.sync_round for r in caplog.records if r.name == "mailsync.rounds"]
    assert [r["more"] for r in rounds][-1] is False and len(rounds) >= 2
    assert all(r["more"] for r in rounds[:-1])
    assert _answers() == [f"Answer {n}" for n in range(REPLIES)]
    mailbox.refresh_from_db()
    assert mailbox.sync_claim == "" and mailbox.last_error == ""
