"""`manage.py sandbox` subcommands."""

import io
import json

import pytest
import requests
from django.core.management import CommandError, call_command

from sandbox.models import HistoryEvent, Mailbox, Message
from tests.sandbox.conftest import raw_message


def run(*args, stdin: bytes | None = None, monkeypatch=None) -> str:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    out = io.StringIO()
    call_command("sandbox", *args, stdout=out)
    return out.getvalue()


def test_create_mailbox_token_deliver_and_log(transactional_db, live_server, monkeypatch):
    created = json.loads(run("create-mailbox", "Rec@Agency.test", "--name", "Rec"))
    assert created == {"address": "rec@agency.test", "provider": "google"}
    run("create-mailbox", "ms@agency.test", "--provider", "microsoft")
    assert Mailbox.objects.get(address="ms@agency.test").provider == "microsoft"
    with pytest.raises(CommandError, match="already exists"):
        run("create-mailbox", "rec@agency.test")

    raw = raw_message(
        sender="c@people.test", to="rec@agency.test", subject="Hi", message_id="hi@people.test"
    )
    delivered = json.loads(run("deliver", "rec@agency.test", stdin=raw, monkeypatch=monkeypatch))
    assert delivered["messageId"] == "hi@people.test"
    assert Message.objects.get(provider_id=delivered["id"]).labels == ["INBOX", "UNREAD"]

    token = run("token", "rec@agency.test", "--scope", "readonly").strip()
    response = requests.get(
        f"{live_server.url}/sandbox/google/gmail/v1/users/me/messages/{delivered['id']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.json()["threadId"] == delivered["threadId"]

    lines = [json.loads(line) for line in run("log", "rec@agency.test").splitlines()]
    assert [(e["operation"], e["format"], e["units"], e["status"]) for e in lines] == [
        ("gmail.users.messages.get", "full", 5, 200)
    ]
    assert lines[0]["scopes"] == ["https://www.googleapis.com/auth/gmail.readonly"]


def test_fault_quota_and_expire_history(transactional_db):
    run("create-mailbox", "rec@agency.test")
    fault = json.loads(run("fault", "rec@agency.test", "--status", "503", "--count", "3"))
    assert fault == {
        "address": "rec@agency.test",
        "status": 503,
        "delay": 0,
        "retryAfter": 1,
        "remaining": 3,
    }
    throttle = run("fault", "rec@agency.test", "--status", "429", "--retry-after", "3600")
    assert json.loads(throttle)["retryAfter"] == 3600
    delay = json.loads(run("fault", "rec@agency.test", "--delay", "2.5", "--count", "1"))
    assert delay["delay"] == 2.5 and delay["status"] is None
    with pytest.raises(CommandError):
        run("fault", "rec@agency.test", "--count", "1")
    assert json.loads(run("quota", "rec@agency.test", "--per-minute", "100"))["per_minute"] == 100
    floor = json.loads(run("expire-history", "rec@agency.test"))["historyFloor"]
    assert int(floor) == Mailbox.objects.get().history_floor
    with pytest.raises(CommandError, match="No sandbox mailbox"):
        run("expire-history", "nobody@agency.test")


def test_fill_inserts_realistic_threads_quickly(transactional_db):
    run("create-mailbox", "rec@agency.test")
    result = json.loads(run("fill", "rec@agency.test", "--count", "3000", "--seed", "7"))
    assert result["inserted"] == 3000
    assert result["seconds"] < 10
    mailbox = Mailbox.objects.get()
    assert Message.objects.filter(mailbox=mailbox).count() == 3000
    assert HistoryEvent.objects.filter(mailbox=mailbox).count() == 3000
    assert mailbox.history_id == 3001
    threads = Message.objects.filter(mailbox=mailbox).values("thread_id").distinct().count()
    assert threads < 3000  # candidate conversations span several messages
    reply = Message.objects.filter(mailbox=mailbox, subject__startswith="Re: ").first()
    root = Message.objects.get(mailbox=mailbox, provider_id=reply.thread_id)
    assert root.subject_normalized == reply.subject_normalized
    assert f"<{root.rfc822_msgid}>".encode() in bytes(reply.raw)
    assert Message.objects.filter(mailbox=mailbox, label_ids__contains=" SENT ").exists()
