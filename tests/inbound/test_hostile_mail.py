"""Issue 9, observation 1, at the inbound doors: replies carrying headers that used to
crash the parser are stored, and whatever cannot be read or stored is answered with a
4xx and a reason (Mailgun retries all but 406, so nothing is lost), never a 500."""

import io
import json
import sys
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from candidates.models import EmailMessage
from tests.factories import MailboxConnectionFactory
from tests.inbound.conftest import PARSED_URL

POISON = {
    "date-in-year-10000-utc": ("Date", "Fri, 31 Dec 9999 23:59:59 -2359"),
    "cc-unclosed-literal": ("Cc", "a@["),
    "message-id-unclosed": ("Message-ID", "<"),
}


def with_header(raw: bytes, name: str, value: str) -> bytes:
    """`raw` with its `name` header replaced by `value` as written, which no library that
    builds messages would let through."""
    head, _, body = raw.partition(b"\r\n\r\n")
    prefix = f"{name.lower()}:".encode()
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(prefix)]
    return b"\r\n".join([*lines, f"{name}: {value}".encode()]) + b"\r\n\r\n" + body


def poisoned_reply(routed, poison: str) -> bytes:
    return with_header(routed.candidate_reply(body="Poisoned but real."), *POISON[poison])


@pytest.mark.parametrize("poison", POISON)
def test_a_reply_with_a_poisoned_header_is_stored_with_a_sane_date(
    routed, client_for, emails_tab, poison
):
    posted_at = timezone.now()

    response = routed.post(poisoned_reply(routed, poison))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "stored"
    reply = routed.stored().get()
    reply.refresh_from_db()  # sent_at as the database gives it back
    assert posted_at - timedelta(seconds=5) <= reply.sent_at <= timezone.now()
    page = client_for(routed.recruiter).get(emails_tab)
    assert page.status_code == 200
    assert "Poisoned but real." in page.content.decode()


def test_an_unparseable_cc_and_message_id_are_kept_as_written(routed):
    raw = with_header(poisoned_reply(routed, "cc-unclosed-literal"), "Message-ID", "<")

    assert routed.post(raw).json()["status"] == "stored"

    reply = routed.stored().get()
    assert (reply.cc_header, reply.message_id) == ("a@[", "<")


@pytest.mark.parametrize("timestamp", [10**400, -(10**400)])
def test_a_signed_post_with_a_400_digit_timestamp_is_refused_with_a_reason(routed, timestamp):
    response = routed.post(routed.candidate_reply(), timestamp=timestamp)

    assert response.status_code == 403
    assert "timestamp" in response.json()["reason"]
    assert not routed.stored().exists()


def test_parsed_fields_that_name_a_header_with_a_list_are_a_4xx(routed):
    response = routed.post(
        b"Subject: x\r\n\r\nbody",
        url=PARSED_URL,
        **{"body-mime": None, "message-headers": json.dumps([[["From"], "x@example.org"]])},
    )

    assert response.status_code == 400
    assert response.json()["reason"].startswith("unreadable post")


@contextmanager
def database_refusing_messages():
    """The database refuses to store any message, as a full disk or a broken constraint
    would: a trigger, so that our own code runs unchanged."""
    table = connection.ops.quote_name(EmailMessage._meta.db_table)
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(
                "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql "
                "AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_messages BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_row()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_messages BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute(f"DROP TRIGGER refuse_messages ON {table}")
                cursor.execute("DROP FUNCTION refuse_row()")
            else:
                cursor.execute("DROP TRIGGER refuse_messages")


def test_a_reply_that_cannot_be_stored_is_a_400_and_stored_when_delivered_again(routed, caplog):
    raw = routed.candidate_reply(body="Tuesday at ten, then.")

    with database_refusing_messages():
        refused = routed.post(raw, token="t" * 50)

    assert refused.status_code == 400
    assert refused.json()["reason"].startswith("could not be stored")
    assert not routed.stored().exists()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "not stored" in logged
    assert "Tuesday" not in logged and routed.candidate_address not in logged
    # Mailgun delivers the same post again later, token and all.
    again = routed.post(raw, token="t" * 50)
    assert again.status_code == 200
    assert routed.stored().get().body_text.strip() == "Tuesday at ten, then."


def ingest(monkeypatch, raw: bytes, recipient: str) -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    call_command("ingest_mail", "--recipient", recipient, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("poison", POISON)
def test_a_piped_reply_with_a_poisoned_header_is_stored(routed, monkeypatch, poison):
    output = ingest(
        monkeypatch, poisoned_reply(routed, poison), routed.organisation.inbound_address
    )

    assert output.strip() == "stored: stored"
    assert routed.stored().get().sent_at <= timezone.now()


def test_a_piped_reply_that_cannot_be_stored_exits_with_a_data_error(routed, monkeypatch):
    with database_refusing_messages(), pytest.raises(CommandError) as refused:
        ingest(monkeypatch, routed.candidate_reply(), routed.organisation.inbound_address)

    assert refused.value.returncode == 65
    assert "could not be stored" in str(refused.value)


def test_a_reply_whose_from_cannot_be_read_is_stored_as_inbound_from_no_one(routed):
    # A mailbox whose provider gave no address must not make it the author of such mail.
    MailboxConnectionFactory(user=routed.recruiter, account_address="")
    raw = with_header(routed.candidate_reply(), "From", "Ada <a@[>")

    assert routed.post(raw).json()["status"] == "stored"

    reply = routed.stored().get()
    assert reply.from_header == "Ada <a@[>"
    assert (reply.direction, reply.sender) == (EmailMessage.Direction.INBOUND, None)


def test_a_piped_reply_with_nul_characters_and_latin1_bytes_is_stored(routed, monkeypatch):
    """PostgreSQL refuses NUL in text, and raw Latin-1 is not UTF-8: neither may stop it."""
    raw = routed.candidate_reply(attachment=("cv.pdf", b"%PDF-1.4"))
    raw = raw.replace(b"Subject: Re: Platform role", b"Subject: Re: caf\xe9 \x00role")
    raw = raw.replace(b"Content-Type: application/pdf", b"Content-Type: application/p\x00df")

    output = ingest(monkeypatch, raw, routed.organisation.inbound_address)

    assert output.strip() == "stored: stored"
    reply = routed.stored().get()
    assert reply.subject == "Re: caf\ufffd role"
    assert reply.attachments.get().content_type == "application/pdf"
