"""`manage.py ingest_mail`, as Postfix's pipe transport or Exim's pipe router run it: one
message on standard input, the envelope recipient as an argument."""

import io
import sys

import pytest
from django.core.management import CommandError, call_command

from candidates.models import EmailMessage


def _ingest(monkeypatch, raw: bytes, recipient: str) -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    call_command("ingest_mail", "--recipient", recipient, stdout=out)
    return out.getvalue()


def test_a_piped_reply_is_stored_like_a_webhook_one(routed, monkeypatch):
    raw = routed.candidate_reply()

    output = _ingest(monkeypatch, raw, routed.organisation.inbound_address)

    assert output.strip() == "stored: stored"
    assert routed.stored().get().direction == EmailMessage.Direction.INBOUND


def test_the_same_message_by_pipe_and_by_webhook_is_stored_once(routed, monkeypatch):
    raw = routed.candidate_reply()
    assert routed.post(raw).json()["status"] == "stored"

    output = _ingest(monkeypatch, raw, routed.organisation.inbound_address)

    assert output.strip() == "duplicate: already stored"
    assert routed.stored().count() == 1


def test_unrelated_mail_is_dropped_without_a_trace(routed, monkeypatch):
    raw = b"From: someone@example.org\r\nTo: x@y\r\nSubject: Hi\r\n\r\nLunch?\r\n"

    output = _ingest(monkeypatch, raw, routed.organisation.inbound_address)

    assert output.startswith("dropped")
    assert not routed.stored().exists()


def test_malformed_input_exits_with_a_data_error_so_the_mta_bounces(routed, monkeypatch):
    with pytest.raises(CommandError) as refused:
        _ingest(monkeypatch, b"garbage without headers", routed.organisation.inbound_address)

    assert refused.value.returncode == 65
    assert "malformed message" in str(refused.value)


def test_oversized_input_is_refused_after_reading_one_byte_past_the_limit(
    routed, monkeypatch, settings
):
    settings.INBOUND_MAX_MESSAGE_BYTES = 2000
    raw = routed.candidate_reply(body="x" * 5000)

    with pytest.raises(CommandError) as refused:
        _ingest(monkeypatch, raw, routed.organisation.inbound_address)

    assert "too large: 2001 bytes" in str(refused.value)
    assert not routed.stored().exists()
