"""The sandbox web page: browse a mailbox, read a message and reply as that mailbox."""

from django.test import Client
from django.urls import reverse

from sandbox import services
from sandbox.fill import mailbox_fill
from sandbox.models import Mailbox, Message
from tests.sandbox.conftest import raw_message


def test_candidate_replies_from_the_web_page_into_the_recruiters_thread(recruiter, candidate):
    client = Client()
    sent = services.message_send(
        mailbox=recruiter,
        raw=raw_message(
            sender=recruiter.address,
            to=candidate.address,
            subject="Your application",
            message_id="app@agency.test",
        ),
    )
    index = client.get(reverse("sandbox:index"))
    assert candidate.address in index.content.decode()

    inbox = client.get(reverse("sandbox:mailbox", args=[candidate.address]))
    assert "Your application" in inbox.content.decode()
    received = Message.objects.get(mailbox=candidate)
    page = client.get(reverse("sandbox:message", args=[candidate.address, received.provider_id]))
    assert "Hello there" in page.content.decode()

    response = client.post(
        reverse("sandbox:reply", args=[candidate.address, received.provider_id]),
        {"body": "Thanks, Tuesday works."},
    )
    assert response.status_code == 302
    reply = Message.objects.get(mailbox=recruiter, label_ids__contains=" INBOX ")
    assert reply.subject == "Re: Your application"
    assert reply.thread_id == sent.thread_id
    assert reply.from_addr == candidate.address
    assert b"In-Reply-To: <app@agency.test>" in bytes(reply.raw)
    assert b"References: <app@agency.test>" in bytes(reply.raw)
    candidate_copy = Message.objects.get(mailbox=candidate, label_ids__contains=" SENT ")
    assert candidate_copy.thread_id == received.thread_id
    sent_tab = client.get(reverse("sandbox:mailbox", args=[candidate.address]) + "?folder=sent")
    assert "Re: Your application" in sent_tab.content.decode()


def test_compose_and_create_mailbox_from_the_page(recruiter, transactional_db):
    client = Client()
    created = client.post(
        reverse("sandbox:mailbox_new"),
        {"address": "new@people.test", "display_name": "New", "provider": "google"},
    )
    assert created.status_code == 302
    assert Mailbox.objects.filter(address="new@people.test").exists()
    duplicate = client.post(
        reverse("sandbox:mailbox_new"), {"address": "new@people.test", "provider": "google"}
    )
    assert duplicate.status_code == 400

    client.post(
        reverse("sandbox:compose", args=[recruiter.address]),
        {"to": "new@people.test", "subject": "Welcome", "body": "Hi!"},
    )
    assert Message.objects.get(mailbox__address="new@people.test").subject == "Welcome"
    assert client.get(reverse("sandbox:mailbox", args=["missing@x.test"])).status_code == 404


def test_mailbox_page_paginates(recruiter, transactional_db):
    mailbox_fill(mailbox=recruiter, count=120, seed=1)
    page = Client().get(reverse("sandbox:mailbox", args=[recruiter.address]) + "?folder=all")
    body = page.content.decode()
    assert "Page 1 of 3" in body and "(120 messages)" in body
    assert body.count("/messages/") == 50
