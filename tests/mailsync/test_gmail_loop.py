"""The core loop on Gmail, end to end: connect, send from Threadline, the candidate replies
in their mailbox, sync brings the reply to the profile. Default-deny throughout."""

import json
from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from candidates.models import EmailMessage, EmailThread
from mailsync.models import MailboxConnection, MailboxThread, SyncedMessage
from mailsync.sending import Draft, message_send
from sandbox import tokens
from sandbox.models import Label, Message


def _send_first_email(world, body="Would you like to talk next week?") -> EmailMessage:
    return message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(
            to=world.candidate_address, subject="Platform Engineer at Acme", body_text=body
        ),
    )


def test_recruiter_connects_sends_and_sees_the_candidates_reply(world):
    connection = world.connect()
    assert connection.account_address == world.recruiter.email
    assert connection.state == MailboxConnection.State.CONNECTED
    assert set(connection.granted_scopes) == {
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.send",
    }
    world.sync()  # first run only takes the provider's cursor
    emails_tab = reverse("candidates:emails", args=[world.candidate.pk])

    sent = world.client.post(
        reverse("candidates:email_send", args=[world.candidate.pk]),
        {
            "to": world.candidate_address,
            "subject": "Platform Engineer at Acme",
            "body_text": "Would you like to talk next week?",
        },
    )
    assert sent.status_code == 302
    thread = EmailThread.objects.get(candidate=world.candidate)
    assert thread.messages.get().status == EmailMessage.Status.SENT
    delivered = world.latest_in(world.candidate_box)
    assert delivered.subject == "Platform Engineer at Acme"
    assert delivered.from_addr == world.recruiter.email
    headers = dict(delivered.headers)
    assert headers["X-Threadline-Ref"].startswith(thread.pk.hex)
    assert thread.pk.hex in headers["Message-ID"]

    world.reply(world.candidate_box, world.recruiter.email, "Yes, Tuesday works for me.")
    report = world.sync()

    assert report.status == "ok"
    assert report.stored == 1
    page = world.client.get(emails_tab).content.decode()
    assert "Would you like to talk next week?" in page
    assert "Yes, Tuesday works for me." in page
    reply = EmailMessage.objects.get(thread=thread, direction="inbound")
    assert reply.from_header.endswith(f"<{world.candidate_address}>")
    connection.refresh_from_db()
    assert connection.messages_synced == 1
    assert connection.last_synced_at is not None
    health = world.client.get(reverse("accounts:my_account")).content.decode()
    assert world.recruiter.email in health
    assert "Messages synced</dt><dd>1<" in health


def test_every_message_of_the_thread_gets_the_threadline_label_and_nothing_else(world):
    world.connect()
    world.sync()
    _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Sounds good.")
    world.write(world.candidate_box, world.recruiter.email, "Unrelated", "Lunch?")
    world.sync()

    label = Label.objects.get(mailbox=world.recruiter_box, name="Threadline")
    labelled = Message.objects.filter(
        mailbox=world.recruiter_box, label_ids__contains=f" {label.provider_id} "
    )
    assert {m.subject for m in labelled} == {
        "Platform Engineer at Acme",
        "Re: Platform Engineer at Acme",
    }


def test_recruiters_own_reply_written_in_gmail_appears_on_the_profile(world):
    world.connect()
    world.sync()
    sent = _send_first_email(world)
    candidate_reply = world.reply(world.candidate_box, world.recruiter.email, "Which time?")
    world.sync()
    in_recruiter_box = Message.objects.get(
        mailbox=world.recruiter_box, rfc822_msgid=candidate_reply.rfc822_msgid
    )

    world.reply(
        world.recruiter_box, world.candidate_address, "10am, see you.", to_message=in_recruiter_box
    )
    report = world.sync()

    own = EmailMessage.objects.get(thread=sent.thread, direction="outbound", status="synced")
    assert report.stored == 1
    assert own.sender == world.recruiter
    assert "10am" in own.body_text
    # Known Gmail thread: no header check was needed for it.
    assert report.header_checks == 0


def test_a_thread_not_started_in_threadline_is_never_stored_or_fetched(world):
    world.connect()
    world.sync()
    outside = world.write(
        world.candidate_box, world.recruiter.email, "Hello from outside", "Private matter"
    )
    in_box = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=outside.rfc822_msgid)

    report = world.sync()

    assert report.seen == 1
    assert report.of_interest == 0
    assert not EmailThread.objects.exists()
    assert not SyncedMessage.objects.filter(provider_message_id=in_box.provider_id).exists()
    fetches = world.log(operation="gmail.users.messages.get", path__contains=in_box.provider_id)
    assert [entry.format for entry in fetches] == ["metadata"]
    assert not world.log(format__in=["full", "raw"]).exists()


def test_a_reply_with_a_forged_reference_is_never_stored(world):
    world.connect()
    world.sync()
    sent = _send_first_email(world)
    thread_hex = sent.thread.pk.hex
    forged = f"<tl.{thread_hex}.deadbeefdeadbeef.{'0' * 24}@threadline.localhost>"

    world.write(
        world.candidate_box,
        world.recruiter.email,
        "Re: Platform Engineer at Acme (forged)",
        "I am not who I say",
        In_Reply_To=forged,
        References=forged,
        X_Threadline_Ref=f"{thread_hex}.{'f' * 24}",
    )
    report = world.sync()

    assert report.of_interest == 0
    assert EmailMessage.objects.filter(thread=sent.thread).count() == 1


def test_sync_twice_stores_each_message_once(world):
    world.connect()
    world.sync()
    sent = _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Yes!")
    world.sync()
    rows = (
        EmailMessage.objects.count(),
        SyncedMessage.objects.count(),
        MailboxThread.objects.count(),
    )

    second = world.sync()
    MailboxConnection.objects.filter(user=world.recruiter).update(cursor="1")
    replayed = world.sync()

    assert second.stored == replayed.stored == 0
    assert (
        EmailMessage.objects.count(),
        SyncedMessage.objects.count(),
        MailboxThread.objects.count(),
    ) == rows
    assert EmailMessage.objects.filter(thread=sent.thread).count() == 2


def test_header_checks_ask_for_the_four_reference_headers_only(world):
    world.connect()
    world.sync()
    world.write(world.candidate_box, world.recruiter.email, "Newsletter", "Buy now")

    world.sync()

    (check,) = world.log(operation="gmail.users.messages.get", format="metadata")
    query = parse_qs(urlsplit(check.path).query)
    assert sorted(query["metadataHeaders"]) == sorted(
        ["Message-ID", "In-Reply-To", "References", "X-Threadline-Ref"]
    )


def test_a_reply_arriving_before_the_first_sync_round_is_not_missed(world):
    world.connect()
    sent = _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Quick answer!")

    report = world.sync()

    assert report.stored == 1
    assert EmailMessage.objects.filter(thread=sent.thread, direction="inbound").count() == 1


def test_reauthorizing_the_same_mailbox_resumes_where_sync_stopped(world):
    connection = world.connect()
    sent = _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Before the revocation")
    tokens.token_revoke(token=json.loads(connection.credentials)["refresh_token"])
    assert world.sync().status == "failed"
    world.reply(world.candidate_box, world.recruiter.email, "While disconnected")

    renewed = world.reauthorize()
    report = world.sync()

    assert renewed.pk == connection.pk
    assert renewed.state == MailboxConnection.State.CONNECTED
    assert report.stored == 2
    bodies = {
        m.body_text.strip()
        for m in EmailMessage.objects.filter(thread=sent.thread, direction="inbound")
    }
    assert bodies == {"Before the revocation", "While disconnected"}


def test_sync_changes_nothing_in_the_mailbox_but_its_own_label(world):
    world.connect()
    _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Sure")
    world.write(world.candidate_box, world.recruiter.email, "Something else", "Unrelated")
    label = Label.objects.get(mailbox=world.recruiter_box, name="Threadline").provider_id
    before = {
        m.provider_id: set(m.labels) - {label}
        for m in Message.objects.filter(mailbox=world.recruiter_box)
    }

    world.sync()

    after = {
        m.provider_id: set(m.labels) - {label}
        for m in Message.objects.filter(mailbox=world.recruiter_box)
    }
    assert after == before
    operations = set(world.log().values_list("operation", flat=True))
    assert operations <= {
        "oauth2.authorize",
        "oauth2.token.authorization_code",
        "gmail.users.getProfile",
        "gmail.users.history.list",
        "gmail.users.messages.get",
        "gmail.users.messages.send",
        "gmail.users.messages.modify",
        "gmail.users.labels.list",
        "gmail.users.labels.create",
    }
