"""`manage.py sandbox` and the web page for Microsoft mailboxes."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from sandbox import services
from sandbox.models import AdminConsent, Grant, Mailbox, Message, RequestLog
from tests.sandbox.conftest import GraphClient, raw_message


def run(*args) -> str:
    out = io.StringIO()
    call_command("sandbox", *args, stdout=out)
    return out.getvalue()


def test_microsoft_mailboxes_tokens_consent_limits_and_revocation(ms_server):
    created = json.loads(
        run("create-mailbox", "Rita@Army365.test", "--provider", "microsoft", "--gcc-high")
    )
    assert created["provider"] == "microsoft" and created["gccHigh"] is True
    with pytest.raises(CommandError, match="GCC High"):
        run("create-mailbox", "g@gmail365.test", "--gcc-high")

    token = run("token", "rita@army365.test", "--scope", "read", "--scope", "user").strip()
    assert token.startswith("EwB")
    assert Grant.objects.get().scopes == "Mail.Read User.Read"
    graph = GraphClient(f"{ms_server.url}/sandbox/microsoft/graph/v1.0", token)
    assert graph.get("me").json()["userPrincipalName"] == "rita@army365.test"

    consent = json.loads(
        run("admin-consent", "army365.test", "--client-id", "app-1", "--scope", "Mail.Read")
    )
    assert consent["tenant"] == created["tenant"] and consent["scopes"] == ["Mail.Read"]
    assert AdminConsent.objects.get().client_id == "app-1"
    with pytest.raises(CommandError, match="No Microsoft tenant"):
        run("admin-consent", "nowhere.test", "--client-id", "x")

    limits = json.loads(
        run("quota", "rita@army365.test", "--per-ten-minutes", "50", "--concurrency", "2")
    )
    assert limits == {"address": "rita@army365.test", "per_ten_minutes": 50, "concurrency": 2}

    floor = json.loads(run("expire-delta", "rita@army365.test"))["historyFloor"]
    assert int(floor) == Mailbox.objects.get(address="rita@army365.test").history_floor

    assert json.loads(run("revoke", "rita@army365.test"))["revokedGrants"] == 1
    assert graph.get("me").status_code == 401
    # The refused call has no mailbox (its token names none any more); both are logged.
    lines = [json.loads(line) for line in run("log", "rita@army365.test").splitlines()]
    assert [(e["operation"], e["status"], e["provider"]) for e in lines] == [
        ("graph.me.get", 200, "microsoft")
    ]
    assert list(RequestLog.objects.values_list("operation", "status")) == [
        ("graph.me.get", 200),
        ("graph.me.get", 401),
    ]


def test_web_page_lists_outlook_folders_and_replies_as_a_microsoft_mailbox(recruiter_ms, candidate):
    client = Client()
    services.folder_create(mailbox=recruiter_ms, name="Backend", parent="INBOX")
    delivered = services.message_deliver(
        mailbox=recruiter_ms,
        raw=raw_message(
            sender=candidate.address,
            to=recruiter_ms.address,
            subject="My CV",
            message_id="cv@people.test",
        ),
    )
    inbox = client.get(reverse("sandbox:mailbox", args=[recruiter_ms.address]))
    text = inbox.content.decode()
    assert "Sent Items" in text and "Deleted Items" in text and "Inbox / Backend" in text
    assert "My CV" in text
    page = client.get(
        reverse("sandbox:message", args=[recruiter_ms.address, delivered.provider_id])
    )
    assert delivered.immutable_id in page.content.decode()

    client.post(
        reverse("sandbox:reply", args=[recruiter_ms.address, delivered.provider_id]),
        {"body": "Thanks, received."},
    )
    reply = Message.objects.get(mailbox=recruiter_ms, label_ids__contains=" SENT ")
    assert reply.thread_id == delivered.thread_id and reply.thread_id.startswith("AAQkA")
    assert Message.objects.get(mailbox=candidate).subject == "Re: My CV"

    sent = client.get(reverse("sandbox:mailbox", args=[recruiter_ms.address]) + "?folder=SENT")
    assert "Re: My CV" in sent.content.decode()
    composed = client.post(
        reverse("sandbox:compose", args=[recruiter_ms.address]),
        {"to": candidate.address, "subject": "Next steps", "body": "Hello"},
    )
    assert composed.status_code == 302
    assert Message.objects.filter(mailbox=candidate, subject="Next steps").exists()

    created = client.post(
        reverse("sandbox:mailbox_new"),
        {"address": "new@gov365.test", "provider": "microsoft", "gcc_high": "on"},
    )
    assert created.status_code == 302
    assert Mailbox.objects.get(address="new@gov365.test").tenant.gcc_high
