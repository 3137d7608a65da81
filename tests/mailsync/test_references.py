"""Signed thread references and MIME parsing: the pure parts of default-deny."""

import uuid

import pytest

from mailsync.mime import MalformedMessage, OutgoingAttachment, build_message, parse_message
from mailsync.threadref import (
    message_id_digest,
    new_message_id,
    thread_from_headers,
    thread_ref,
)

THREAD = uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100")


def test_a_reply_quoting_our_message_id_names_its_thread():
    ours = new_message_id(THREAD)

    assert thread_from_headers([None, ours, f"<other@example.com> {ours}"]) == THREAD
    assert thread_from_headers([f"<a@b> <c@d>\n {ours}"]) == THREAD


def test_the_x_threadline_ref_header_names_its_thread():
    assert thread_from_headers([thread_ref(THREAD)]) == THREAD


def test_each_message_id_is_unique_but_carries_the_same_thread():
    first, second = new_message_id(THREAD), new_message_id(THREAD)

    assert first != second
    assert thread_from_headers([first]) == thread_from_headers([second]) == THREAD


@pytest.mark.parametrize(
    "forged",
    [
        lambda: new_message_id(THREAD).replace(THREAD.hex, uuid.uuid4().hex),
        lambda: new_message_id(THREAD)[:-30] + "0" * 24 + new_message_id(THREAD)[-6:],
        lambda: f"{uuid.uuid4().hex}.{thread_ref(THREAD).split('.')[1]}",
        lambda: f"{THREAD.hex}.{'a' * 24}",
        lambda: "<CAF=random-gmail-id@mail.gmail.com>",
        lambda: "",
    ],
)
def test_forged_or_foreign_references_name_no_thread(forged):
    assert thread_from_headers([forged()]) is None


def test_references_signed_with_another_key_are_rejected(settings):
    ours = new_message_id(THREAD)
    assert thread_from_headers([ours]) == THREAD
    settings.THREADLINE_REF_SECRET = "a different installation's key"

    assert thread_from_headers([ours]) is None


def test_message_id_digest_ignores_brackets_and_whitespace():
    assert message_id_digest("<abc@x>") == message_id_digest(" abc@x ")
    assert message_id_digest("<abc@x>") != message_id_digest("<abd@x>")


def test_built_messages_parse_back_to_the_same_fields():
    raw = build_message(
        from_address="riley@acme.test",
        from_name="Riley Chen",
        to=["ada@example.com"],
        subject="Platform Engineer — next steps",
        body_text="Hello Ada,\n\nAre you free?",
        body_html="<p>Hello Ada,</p>",
        message_id=new_message_id(THREAD),
        threadline_ref=thread_ref(THREAD),
        attachments=[OutgoingAttachment("brief.pdf", "application/pdf", b"%PDF-1.7 ...")],
    )

    parsed = parse_message(raw)

    assert parsed.from_address == "riley@acme.test"
    assert parsed.recipient_addresses == ("ada@example.com",)
    assert parsed.subject == "Platform Engineer — next steps"
    assert "Are you free?" in parsed.body_text
    assert parsed.body_html.strip() == "<p>Hello Ada,</p>"
    assert [(a.filename, a.content) for a in parsed.attachments] == [("brief.pdf", b"%PDF-1.7 ...")]
    assert thread_from_headers(parsed.reference_headers) == THREAD


@pytest.mark.parametrize(
    "raw",
    [b"", b"   \r\n", b"this is not an email at all", b"Subject: no sender\r\n\r\nbody"],
)
def test_unreadable_messages_raise_a_clear_error(raw):
    with pytest.raises(MalformedMessage):
        parse_message(raw)


def test_a_message_with_a_broken_date_still_parses():
    raw = b"From: a@example.com\r\nTo: b@example.com\r\nDate: yesterday-ish\r\n\r\nHi"

    parsed = parse_message(raw)

    assert parsed.sent_at is not None
    assert parsed.body_text.strip() == "Hi"
