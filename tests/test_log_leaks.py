"""The suite-wide log scan can fail: a record with a demo address or subject is caught, a
record of ids is not (tests/log_leaks.py; the fixture is in tests/conftest.py)."""

import logging

import pytest

from demo.seeding import DEMO_USERS
from sandbox.demo import DEMO_CONTACTS
from sandbox.fill import CANDIDATE_SUBJECTS, NEWSLETTERS
from tests.log_leaks import LeakScan, leaked

logger = logging.getLogger("tests.log_leaks_demo")


@pytest.mark.parametrize(
    "message",
    [
        f"Sync of {DEMO_USERS[0][0]} failed",
        f"contact {DEMO_CONTACTS[0][1]} added",
        "candidate laura.schmidt@example.org replied",  # at a demo candidate domain
        "from tove.walsh123@mail.example.net",  # sandbox.fill's candidates
        "user17@company.test",  # tests.factories.UserFactory
        f"subject {CANDIDATE_SUBJECTS[0].format(role='Data Analyst')!r}",
        NEWSLETTERS[0][3].format(n=42),
        "Re: Thread subject 12",
    ],
)
def test_private_data_is_recognised(message):
    assert leaked(message)


@pytest.mark.parametrize(
    "message",
    [
        "sync_round mailbox=12 organisation=3 provider=google status=ok stored=1",
        "Inbound message for 4: dropped (no Threadline reference)",
        "Freed 2 sync leases held by stopped workers",
    ],
)
def test_ids_and_counts_are_not(message):
    assert leaked(message) is None


def test_the_scan_catches_a_logged_address_and_a_logged_exception(log_leak_scan: LeakScan):
    logger.info("Sync of %s failed", DEMO_USERS[1][0])
    try:
        raise ValueError(f"unknown recipient {DEMO_CONTACTS[1][1]}")
    except ValueError:
        logger.exception("Could not store it")
    logger.info("Sync of mailbox %s failed", 12)

    found = list(log_leak_scan.leaks)
    # Emptied, or the fixture would fail this test for the leaks it was made to log.
    log_leak_scan.leaks.clear()

    assert len(found) == 2
    assert DEMO_USERS[1][0] in found[0]
    assert DEMO_CONTACTS[1][1] in found[1]


def test_o365s_error_lines_lose_the_search_and_addresses(log_leak_scan: LeakScan):
    # What O365 logs for a 4xx answer to a search (tests/mailsync/test_manual_import.py
    # met it with a revoked grant).
    logging.getLogger("O365.connection").error(
        "Client Error: 401 Client Error: Unauthorized for url: %s | Error Message: no "
        "mailbox for %s | Error Code: ",
        "https://graph.microsoft.com/v1.0/me/messages?$search=%22participants:"
        "ada@acme-candidates.test%22",
        "grace@acme-candidates.test",
    )

    assert log_leak_scan.leaks == []


def test_o365s_request_dumps_are_not_logged(log_leak_scan: LeakScan):
    logging.getLogger("O365.connection").debug("Request parameters: to admin@demo.test")

    assert log_leak_scan.leaks == []
