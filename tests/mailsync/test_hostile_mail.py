"""Mail written by strangers, and mail that crosses between colleagues, on Gmail and on
Outlook alike: no message stops a mailbox, a From header makes nobody an author, and a
mailbox writes only into threads its owner may see."""

import email.policy
import email.utils
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as Mime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Role
from candidates.models import EmailMessage, EmailThread
from mailsync.models import MailboxConnection, MailboxThread, SkippedMessage, SyncedMessage
from mailsync.selectors import mailboxes_to_sync
from mailsync.sending import Draft
from mailsync.services import message_send
from sandbox import services as sandbox
from sandbox.models import Message
from tests.factories import UserFactory
from tests.mailsync.conftest import MailWorld


def _started_thread(world, subject="Next steps") -> EmailThread:
    world.connect()
    return message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject=subject, body_text="Hello"),
    ).thread


def _with_body(messages, text: str) -> list[EmailMessage]:
    """Bodies are encrypted at rest, so the database cannot search them: look in Python."""
    return [m for m in messages.order_by("pk") if text in m.body_text]


def _our_message_id(thread: EmailThread) -> str:
    first = thread.messages.order_by("sent_at").first()
    assert first is not None
    return first.message_id


def _from_outside(world, thread: EmailThread, *, sender: str, body: str, **headers) -> Message:
    """Mail that reached the recruiter's mailbox from some server outside the sandbox:
    its headers are whatever its writer chose."""
    message = Mime(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = world.recruiter.email
    message["Subject"] = "Re: Next steps"
    message["Message-ID"] = email.utils.make_msgid(domain="outside.test")
    message["In-Reply-To"] = _our_message_id(thread)
    message["References"] = _our_message_id(thread)
    message.set_content(body)
    raw = message.as_bytes()
    for name, value in headers.items():
        # Written as raw bytes: these values would not survive the email package's folding.
        raw = f"{name.replace('_', '-')}: {value}\r\n".encode() + raw
    return sandbox.message_deliver(mailbox=world.recruiter_box, raw=raw)


# --- observation 1: a poisoned message stops a mailbox ----------------------------------


@pytest.mark.parametrize(
    "poison",
    [
        {"Date": "Fri, 31 Dec 9999 23:59:59 -2359"},
        {"Cc": "a@["},
        {"Message-ID": "<"},
    ],
    ids=["date-overflow", "cc-unterminated", "message-id-bracket"],
)
def test_a_poisoned_reply_is_stored_and_never_stops_the_mailbox(world, poison):
    thread = _started_thread(world)
    raw = (
        "".join(f"{name}: {value}\r\n" for name, value in poison.items())
        + f"From: Ada <{world.candidate_address}>\r\nTo: {world.recruiter.email}\r\n"
        + f"Subject: Re: Next steps\r\nIn-Reply-To: {_our_message_id(thread)}\r\n"
        + f"References: {_our_message_id(thread)}\r\n\r\nPoisoned but readable.\r\n"
    ).encode()
    if "Message-ID" not in poison:
        raw = f"Message-ID: <poison-{len(poison)}@outside.test>\r\n".encode() + raw
    sandbox.message_deliver(mailbox=world.recruiter_box, raw=raw)
    world.reply(world.candidate_box, world.recruiter.email, "A later reply")

    report = world.sync()

    assert report.status == "ok"
    bodies = {m.body_text.strip() for m in thread.messages.filter(direction="inbound")}
    assert bodies == {"Poisoned but readable.", "A later reply"}
    (poisoned,) = _with_body(thread.messages, "Poisoned")
    assert datetime(1970, 1, 1, tzinfo=UTC) < poisoned.sent_at
    assert poisoned.sent_at < datetime.now(UTC) + timedelta(days=2)
    assert (
        world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).status_code == 200
    )


def test_an_unreadable_reply_is_skipped_counted_and_shown_and_later_mail_still_arrives(world):
    thread = _started_thread(world)
    # A valid reference, so it is of interest, but no From at all: nothing to store.
    sandbox.message_deliver(
        mailbox=world.recruiter_box,
        raw=(
            f"To: {world.recruiter.email}\r\nSubject: Re: Next steps\r\n"
            f"Message-ID: <nofrom@outside.test>\r\nIn-Reply-To: {_our_message_id(thread)}\r\n"
            "\r\nSECRET-BODY-WORDS\r\n"
        ).encode(),
    )
    world.reply(world.candidate_box, world.recruiter.email, "Still here")
    connection = MailboxConnection.objects.get(user=world.recruiter)
    cursor_before = connection.cursor

    first = world.sync()
    world.reply(world.candidate_box, world.recruiter.email, "And again")
    second = world.sync()

    assert (first.status, first.skipped, first.stored) == ("ok", 1, 1)
    assert (second.status, second.skipped, second.stored) == ("ok", 0, 1)
    connection.refresh_from_db()
    assert connection.cursor != cursor_before
    skipped = SkippedMessage.objects.get(mailbox=connection)
    assert "SECRET" not in skipped.reason and skipped.reason
    assert not _with_body(EmailMessage.objects, "SECRET")
    health = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert "1 message could not be read" in health
    assert connection.state == MailboxConnection.State.CONNECTED


def test_sync_mailboxes_goes_on_past_a_mailbox_that_fails(world, team):
    broken_user = UserFactory(organisation=team.organisation, email="broken@acme.test")
    broken = MailboxConnection.objects.create(
        user=broken_user,
        organisation=team.organisation,
        provider=world.kit.name,
        account_address=broken_user.email,
        credentials="this is not the token set it should be",
        cursor="1",
    )
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Synced all the same")
    assert broken.pk < MailboxConnection.objects.get(user=world.recruiter).pk

    with pytest.raises(CommandError, match="1 of 2 mailboxes failed"):
        call_command("sync_mailboxes")

    assert _with_body(thread.messages, "Synced all the same")
    broken.refresh_from_db()
    assert broken.last_error


# --- observation 2: the From header decides who wrote a message -------------------------


def test_a_reply_from_outside_naming_a_colleague_makes_them_neither_author_nor_participant(
    world, team, client_for
):
    thread = _started_thread(world)
    thread.visibility = EmailThread.Visibility.SECRET
    thread.save(update_fields=["visibility"])
    colleague = UserFactory(
        organisation=team.organisation, email="colleague@acme.test", role=Role.TEAM_MEMBER
    )
    _from_outside(
        world, thread, sender=f"Colleague <{colleague.email}>", body="I am your colleague"
    )

    world.sync()

    (forged,) = _with_body(thread.messages, "I am your colleague")
    assert forged.direction == EmailMessage.Direction.INBOUND
    assert forged.sender is None
    page = client_for(colleague).get(reverse("mailsync:emails", args=[world.candidate.pk]))
    assert "I am your colleague" not in page.content.decode()
    assert "Next steps" not in page.content.decode()


def test_the_owners_reply_found_in_their_sent_mail_is_theirs(world):
    thread = _started_thread(world)
    candidate_reply = world.reply(world.candidate_box, world.recruiter.email, "When?")
    world.sync()
    in_box = Message.objects.get(
        mailbox=world.recruiter_box, rfc822_msgid=candidate_reply.rfc822_msgid
    )
    world.reply(world.recruiter_box, world.candidate_address, "Tuesday.", to_message=in_box)

    world.sync()

    (own,) = _with_body(thread.messages, "Tuesday.")
    assert (own.direction, own.sender) == (EmailMessage.Direction.OUTBOUND, world.recruiter)


# --- observation 3: mail crosses into another user's private thread ---------------------


def test_a_reply_copied_to_a_colleague_stays_out_of_the_private_thread_it_cites(
    world, team, client_for
):
    owners_thread = _started_thread(world)
    colleague = UserFactory(
        organisation=team.organisation, email="colleague@acme.test", role=Role.TEAM_MEMBER
    )
    theirs = MailWorld(
        team, world.kit, client_for(colleague), recruiter=colleague, colleague_of=world
    )
    theirs.connect()
    # The candidate answers the owner and adds the colleague.
    world.reply(
        world.candidate_box,
        world.recruiter.email,
        "Adding your colleague.",
        extra_headers={"Cc": colleague.email},
    )

    theirs.sync()
    world.sync()

    # In the owner's thread: their mail and the reply from the owner's own mailbox.
    assert owners_thread.messages.count() == 2
    (copy,) = _with_body(EmailMessage.objects.filter(thread__owner=colleague), "Adding your")
    private = copy.thread
    assert private != owners_thread
    assert (private.visibility, private.origin) == ("private", "imported")
    link = MailboxThread.objects.get(mailbox__user=colleague)
    assert link.thread == private

    # The colleague answers in their own mailbox: it follows their thread, not the owner's.
    in_their_box = theirs.latest_in(theirs.recruiter_box)
    theirs.reply(
        theirs.recruiter_box, world.candidate_address, "Happy to help.", to_message=in_their_box
    )
    theirs.sync()
    world.sync()

    (answer,) = _with_body(private.messages, "Happy to help.")
    assert answer.sender == colleague
    assert not _with_body(owners_thread.messages, "Happy to help.")
    owners_page = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
    assert "Happy to help." not in owners_page.content.decode()
    colleagues_page = theirs.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
    assert "Happy to help." in colleagues_page.content.decode()
    assert "imported from the mailbox of" in colleagues_page.content.decode()


# --- observation 6: labels drift --------------------------------------------------------


def test_a_copy_left_unlabelled_by_a_crash_is_labelled_by_the_next_round_even_with_no_new_mail(
    world,
):
    _started_thread(world)
    reply = world.reply(world.candidate_box, world.recruiter.email, "Hi")
    world.sync()
    connection = MailboxConnection.objects.get(user=world.recruiter)
    in_box = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=reply.rfc822_msgid)
    # What a worker killed between storing and labelling leaves behind.
    SyncedMessage.objects.filter(
        mailbox=connection, provider_message_id=world.kit.api_id(in_box)
    ).update(labelled=False)
    if world.kit.name == "google":
        in_box.label_ids = in_box.label_ids.replace(f" {connection.label_id} ", " ")
        in_box.save(update_fields=["label_ids"])
    else:
        in_box.categories = [c for c in in_box.categories if c != "Threadline"]
        in_box.save(update_fields=["categories"])
    in_box.refresh_from_db()
    assert not world.kit.own_label_on(in_box)

    report = world.sync()

    assert report.stored == 0
    in_box.refresh_from_db()
    assert world.kit.own_label_on(in_box)
    assert not SyncedMessage.objects.filter(mailbox=connection, labelled=False).exists()


def test_imported_messages_are_marked_labelled_and_the_next_round_writes_no_label(
    world, tasks_in_process
):
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Hello first", "I wrote first")
    emails_tab = reverse("mailsync:emails", args=[world.candidate.pk])

    world.client.post(reverse("mailsync:email_import", args=[world.candidate.pk]))

    connection = MailboxConnection.objects.get(user=world.recruiter)
    assert SyncedMessage.objects.filter(mailbox=connection).count() == 1
    assert not SyncedMessage.objects.filter(mailbox=connection, labelled=False).exists()
    label_writes_before = world.log(method__in=["POST", "PATCH"]).count()
    world.sync()
    assert world.log(method__in=["POST", "PATCH"]).count() == label_writes_before
    thread = EmailThread.objects.get(candidate=world.candidate)
    assert thread.origin == EmailThread.Origin.IMPORTED
    page = world.client.get(emails_tab).content.decode()
    # The candidate wrote first: the thread says so, and whose mailbox it came from.
    assert f"Started by {world.candidate.full_name}" in page
    assert "imported from the mailbox of" in page


def test_import_skips_what_it_cannot_read_says_so_and_leaves_no_empty_thread(
    world, tasks_in_process
):
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Hello first", "I wrote first")
    for n in range(2):  # unreadable: no From at all
        sandbox.message_deliver(
            mailbox=world.recruiter_box,
            raw=(
                f"To: {world.candidate_address}\r\nSubject: Broken {n}\r\n"
                f"Message-ID: <broken-{n}@outside.test>\r\n\r\nnothing to see\r\n"
            ).encode(),
        )
    poisoned = (
        f"From: Ada <{world.candidate_address}>\r\nTo: {world.recruiter.email}\r\n"
        "Date: Fri, 31 Dec 9999 23:59:59 -2359\r\nCc: a@[\r\nMessage-ID: <\r\n"
        "Subject: Odd headers\r\n\r\nStill worth keeping.\r\n"
    ).encode()
    sandbox.message_deliver(mailbox=world.recruiter_box, raw=poisoned)
    import_url = reverse("mailsync:email_import", args=[world.candidate.pk])

    first = world.client.post(import_url, follow=True)
    second = world.client.post(import_url, follow=True)

    assert first.status_code == second.status_code == 200
    assert "2 could not be read and were skipped" in first.content.decode()
    threads = EmailThread.objects.filter(candidate=world.candidate)
    assert all(thread.messages.exists() for thread in threads)
    bodies = {m.body_text.strip() for m in EmailMessage.objects.filter(thread__in=threads)}
    assert bodies == {"I wrote first", "Still worth keeping."}
    assert SkippedMessage.objects.filter(mailbox__user=world.recruiter).count() == 2


def test_the_mailbox_of_a_deactivated_user_is_neither_read_nor_listed_for_sync(world):
    _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Anyone there?")
    world.recruiter.is_active = False
    world.recruiter.save(update_fields=["is_active"])
    calls_before = world.log().count()

    report = world.sync()

    assert report.status == "not_connected"
    assert world.log().count() == calls_before
    assert mailboxes_to_sync() == []
    assert not _with_body(EmailMessage.objects, "Anyone there?")
