"""The core loop end to end, on Gmail and on Outlook alike: connect, send from Threadline,
the candidate replies in their mailbox, sync brings the reply to the profile.
Default-deny throughout."""

from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from candidates.models import EmailMessage, EmailThread
from mailsync.models import MailboxConnection, MailboxThread, SyncedMessage
from mailsync.sending import Draft
from mailsync.services import message_send
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
    assert world.kit.scopes <= set(connection.granted_scopes)
    emails_tab = reverse("mailsync:emails", args=[world.candidate.pk])

    sent = world.client.post(
        reverse("mailsync:email_send", args=[world.candidate.pk]),
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
    health = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert world.recruiter.email in health
    assert "Messages synced</dt><dd>1<" in health


def test_every_message_of_the_thread_gets_our_label_and_nothing_else(world):
    world.connect()
    _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Sounds good.")
    world.write(world.candidate_box, world.recruiter.email, "Unrelated", "Lunch?")
    world.sync()

    labelled = [
        m for m in Message.objects.filter(mailbox=world.recruiter_box) if world.kit.own_label_on(m)
    ]
    assert {m.subject for m in labelled} == {
        "Platform Engineer at Acme",
        "Re: Platform Engineer at Acme",
    }


def test_recruiters_own_reply_written_in_their_mailbox_appears_on_the_profile(world):
    world.connect()
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
    # A known provider thread: no header check was needed for it.
    assert report.header_checks == 0


def test_a_thread_not_started_in_threadline_is_never_stored_or_fetched(world):
    world.connect()
    outside = world.write(
        world.candidate_box, world.recruiter.email, "Hello from outside", "Private matter"
    )
    in_box = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=outside.rfc822_msgid)

    report = world.sync()

    assert report.seen == 1
    assert report.of_interest == 0
    assert not EmailThread.objects.exists()
    assert not SyncedMessage.objects.filter(provider_message_id=in_box.provider_id).exists()
    assert world.header_checks().filter(path__contains=world.kit.api_id(in_box)).count() == 1
    assert not world.whole_fetches().exists()


def test_a_reply_with_a_forged_reference_is_never_stored(world):
    world.connect()
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


def test_gmail_header_checks_ask_for_the_four_reference_headers_only(gmail_world):
    world = gmail_world
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Newsletter", "Buy now")

    world.sync()

    (check,) = world.header_checks()
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
    world.revoke_grant()
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


def _mailbox_state(world) -> dict:
    """Every message's folders/labels and categories, leaving out our own label."""
    state = {}
    for message in Message.objects.filter(mailbox=world.recruiter_box):
        labels = {
            label
            for label in message.labels
            if not Label.objects.filter(
                mailbox=world.recruiter_box, provider_id=label, name="Threadline"
            ).exists()
        }
        state[message.rfc822_msgid] = (labels, set(message.categories) - {"Threadline"})
    return state


def test_sync_changes_nothing_in_the_mailbox_but_its_own_label(world):
    world.connect()
    _send_first_email(world)
    world.reply(world.candidate_box, world.recruiter.email, "Sure")
    world.write(world.candidate_box, world.recruiter.email, "Something else", "Unrelated")
    before = _mailbox_state(world)

    world.sync()

    assert _mailbox_state(world) == before
    changes = world.log(method__in=["POST", "PATCH", "PUT", "DELETE"]).values_list(
        "operation", flat=True
    )
    assert set(changes) <= {
        "oauth2.authorize",
        "oauth2.token.authorization_code",
        "gmail.users.messages.send",
        "gmail.users.messages.modify",
        "gmail.users.labels.create",
        "identity.authorize",
        "identity.token.authorization_code",
        "graph.messages.create",
        "graph.messages.send",
        "graph.messages.patch",
        "graph.masterCategories.create",
        "graph.batch",
    }
