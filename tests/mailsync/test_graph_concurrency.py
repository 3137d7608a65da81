"""Graph's four requests in flight per mailbox, held by us across sessions: workers that
each open their own session on one Outlook mailbox (as separate processes would) never
have more than MAILSYNC_GRAPH_CONCURRENT_REQUESTS Graph calls in flight between them.

The sandbox counts in-flight requests per mailbox exactly and answers 429 past four, as
Graph does, so "no 429" below means "never more than four at once"."""

import threading

from django.db import connection as db

from mailsync.models import MailboxConnection
from mailsync.tokens import open_session
from sandbox import services as sandbox

WORKERS = 8
CALLS_EACH = 2
# Slow enough that eight workers' calls overlap at the sandbox.
CALL_SECONDS = 0.3


def _eight_workers_read_the_mailbox(world) -> tuple[list[str], list[Exception]]:
    connection = world.connect()
    sandbox.fault_set(mailbox=world.recruiter_box, count=WORKERS * CALLS_EACH, delay=CALL_SECONDS)
    world.log().delete()
    addresses: list[str] = []
    errors: list[Exception] = []
    start = threading.Barrier(WORKERS)

    def work() -> None:
        try:
            session = open_session(MailboxConnection.objects.get(pk=connection.pk))
            start.wait(timeout=30)
            for _ in range(CALLS_EACH):
                addresses.append(session.account_address())
        except Exception as error:  # collected for the assertions
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return addresses, errors


def test_eight_workers_on_one_outlook_mailbox_keep_to_four_requests_in_flight(outlook_world):
    world = outlook_world

    addresses, errors = _eight_workers_read_the_mailbox(world)

    assert errors == []
    assert addresses == [world.recruiter.email] * WORKERS * CALLS_EACH
    assert world.log(operation="graph.me.get").count() == WORKERS * CALLS_EACH
    assert not world.log(status=429).exists()


def test_with_the_bound_above_graphs_limit_the_same_workers_are_throttled(outlook_world, settings):
    # The control: the scenario above does put more than four calls in flight.
    settings.MAILSYNC_GRAPH_CONCURRENT_REQUESTS = WORKERS
    world = outlook_world

    _eight_workers_read_the_mailbox(world)

    assert world.log(status=429).exists()
