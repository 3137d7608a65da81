"""Deletion sync, on Gmail and on Outlook alike: a message deleted in the recruiter's
mailbox leaves Threadline on the next sync (its attachments with it, its thread with the
last message); one moved to another folder or archived stays; only copies Threadline
stored are ever asked about; a colleague's copy of the same email keeps it; re-running a
round is harmless; and no tombstone is written, so a deletion is not a removal."""

import email.policy
import email.utils
from email.message import EmailMessage as Mime
from urllib.parse import quote

from django.db.models import Q
from django.urls import reverse

from accounts.models import Role
from candidates import audit
from candidates.models import EmailAttachment, EmailMessage, EmailThread
from mailsync.models import MailboxConnection, RemovedMessage, SyncedMessage
from mailsync.sending import Draft
from mailsync.services import message_send
from sandbox import services as sandbox
from sandbox.models import Message, RequestLog
from tests.factories import UserFactory
from tests.mailsync.conftest import MailWorld

# What a round reads when nothing but its change feed needs asking.
CHANGE_FEEDS = {"gmail.users.history.list", "graph.messages.delta"}


def _start_thread(world, subject="Platform role") -> EmailThread:
    """The recruiter writes from Threadline; the next sync maps their Sent copy."""
    world.connect()
    thread = message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject=subject, body_text="Talk soon?"),
    ).thread
    world.sync()
    return thread


def _reply_with_cv(world, *, cc: str = "") -> Message:
    """The candidate answers from their mail client with their CV attached; returns the
    copy in the recruiter's mailbox."""
    original = world.latest_in(world.candidate_box)
    headers = {name.lower(): value for name, value in original.headers}
    reply = Mime(policy=email.policy.SMTP)
    reply["From"] = email.utils.formataddr((world.candidate.full_name, world.candidate_address))
    reply["To"] = world.recruiter.email
    if cc:
        reply["Cc"] = cc
    reply["Subject"] = "Re: Platform role"
    reply["Message-ID"] = email.utils.make_msgid(domain="candidates.test")
    reply["In-Reply-To"] = headers["message-id"]
    reply["References"] = headers["message-id"]
    reply.set_content("Yes! My CV is attached.")
    reply.add_attachment(b"%PDF-1.4 cv", maintype="application", subtype="pdf", filename="cv.pdf")
    sent = sandbox.message_send(mailbox=world.candidate_box, raw=reply.as_bytes())
    assert sent is not None
    return Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=sent.rfc822_msgid)


def _sent_copy(world, thread: EmailThread) -> Message:
    """The recruiter's own first email, as their mailbox's Sent folder holds it."""
    first = thread.messages.order_by("sent_at").first()
    api_id = SyncedMessage.objects.get(message=first).provider_message_id
    column = "provider_id" if world.kit.name == "google" else "immutable_id"
    return Message.objects.get(mailbox=world.recruiter_box, **{column: api_id})


def _delete_for_good(copy: Message) -> None:
    """The user deletes the message in their mailbox (emptied from Trash / Deleted Items)."""
    sandbox.message_delete(message=copy)


def _move_out_of_the_inbox(world, copy: Message) -> None:
    """Gmail: archive (the INBOX label comes off). Outlook: move to the Archive folder."""
    sandbox.message_file(message=copy, folder="ARCHIVE")


def _last_log_id() -> int:
    return RequestLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _naming(world, copy: Message) -> Q:
    api_id = world.kit.api_id(copy)
    return Q(path__contains=api_id) | Q(path__contains=quote(api_id, safe=""))


def _stored(world, copy: Message) -> EmailMessage | None:
    synced = SyncedMessage.objects.filter(provider_message_id=world.kit.api_id(copy)).first()
    return synced.message if synced else None


def test_a_message_deleted_in_the_mailbox_leaves_threadline_with_its_attachments(
    world, team, client_for
):
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    assert world.sync().stored == 1
    reply = thread.messages.get(direction="inbound")
    assert EmailAttachment.objects.filter(message=reply).count() == 1
    first = thread.messages.get(direction="outbound")

    _delete_for_good(copy)
    report = world.sync()

    assert report.status == "ok"
    assert (report.deleted, report.threads_deleted) == (1, 0)
    assert not EmailMessage.objects.filter(pk=reply.pk).exists()
    assert not EmailAttachment.objects.filter(message_id=reply.pk).exists()
    assert not SyncedMessage.objects.filter(provider_message_id=world.kit.api_id(copy)).exists()
    # The thread stays with the recruiter's email; its activity is what is left.
    thread.refresh_from_db()
    assert list(thread.messages.all()) == [first]
    assert thread.last_message_at == first.sent_at
    assert thread.last_inbound_at is None
    assert thread.last_outbound_at == first.sent_at
    # A deletion is not "Remove from Threadline": no tombstone keeps it out.
    assert not RemovedMessage.objects.exists()
    # The owner can see why it left, in words and counts only.
    (entry,) = audit.entries_for_candidate(world.candidate.pk).filter(
        additional_data__event=audit.Event.DELETED_IN_MAILBOX.value
    )
    assert entry.actor == world.recruiter
    assert entry.additional_data["messages"] == 1
    assert "CV" not in str(entry.additional_data) and "Platform" not in entry.object_repr
    page = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
    assert "My CV is attached" not in page.content.decode()
    history = client_for(team.admin).get(reverse("candidates:history", args=[world.candidate.pk]))
    assert "deleted email in their mailbox, so it left Threadline" in history.content.decode()


def test_a_moved_or_archived_message_stays_while_a_deleted_one_goes(world):
    thread = _start_thread(world)
    moved = _reply_with_cv(world)
    world.reply(world.candidate_box, world.recruiter.email, "And a second thought.")
    deleted = world.latest_in(world.recruiter_box)
    assert world.sync().stored == 2
    kept = _stored(world, moved)
    assert kept is not None and _stored(world, deleted) is not None
    before = _last_log_id()

    _move_out_of_the_inbox(world, moved)
    _delete_for_good(deleted)
    report = world.sync()

    assert report.deleted == 1
    assert EmailMessage.objects.filter(pk=kept.pk).exists()
    assert EmailAttachment.objects.filter(message=kept).count() == 1
    assert _stored(world, moved) == kept  # the same copy, under the same (immutable) id
    assert thread.messages.count() == 2
    # Nothing but ids and folders was read to tell the move from the deletion.
    checks = RequestLog.objects.filter(mailbox=world.recruiter_box, id__gt=before).exclude(
        operation__in=CHANGE_FEEDS
    )
    assert not checks.filter(**world.kit.whole_fetches).exists()
    assert not checks.filter(**world.kit.header_checks).exists()
    if world.kit.name == "microsoft":
        # The delta reports the move exactly as a deletion; one check by id tells them apart.
        assert checks.filter(_naming(world, moved), path__contains="parentFolderId").exists()


def test_a_thread_whose_last_message_is_deleted_disappears(world):
    thread = _start_thread(world)
    copy = _sent_copy(world, thread)
    assert SyncedMessage.objects.filter(message__thread=thread).count() == 1

    _delete_for_good(copy)
    report = world.sync()

    assert (report.deleted, report.threads_deleted) == (1, 1)
    assert not EmailThread.objects.filter(pk=thread.pk).exists()
    assert not EmailMessage.objects.filter(thread_id=thread.pk).exists()
    page = world.client.get(reverse("candidates:detail", args=[world.candidate.pk]))
    assert page.status_code == 200
    assert "Platform role" not in page.content.decode()


def test_outlooks_delete_into_deleted_items_counts_as_deleted(outlook_world):
    world = outlook_world
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    world.sync()

    # Outlook's Delete button: into Deleted Items, a folder Threadline's deltas never watch.
    sandbox.message_move(message=copy, folder="TRASH")
    report = world.sync()

    assert report.deleted == 1
    assert not thread.messages.filter(direction="inbound").exists()


def test_a_round_run_again_after_a_crash_before_the_cursor_moved_is_harmless(world):
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    world.sync()
    connection = MailboxConnection.objects.get(user=world.recruiter)
    cursor_before = connection.cursor

    _delete_for_good(copy)
    assert world.sync().deleted == 1
    # The worker died after the deletions committed and before the cursor was saved.
    MailboxConnection.objects.filter(pk=connection.pk).update(cursor=cursor_before)
    before = _last_log_id()
    again = world.sync()

    assert again.status == "ok"
    assert (again.deleted, again.stored) == (0, 0)
    assert thread.messages.count() == 1
    assert EmailThread.objects.filter(pk=thread.pk).exists()
    # The copy is forgotten already, so nothing about it is asked again.
    after = RequestLog.objects.filter(mailbox=world.recruiter_box, id__gt=before)
    assert set(after.values_list("operation", flat=True)) <= CHANGE_FEEDS


def test_a_deleted_message_threadline_never_stored_is_never_asked_about(world):
    _start_thread(world)
    stranger = sandbox.mailbox_create(address="news@elsewhere.test", display_name="News")
    world.write(stranger, world.recruiter.email, "Weekly digest", "Nothing for Threadline.")
    unrelated = world.latest_in(world.recruiter_box)
    copy = _reply_with_cv(world)
    world.sync()
    assert _stored(world, unrelated) is None
    messages_before = EmailMessage.objects.count()
    before = _last_log_id()

    _delete_for_good(unrelated)
    _delete_for_good(copy)
    report = world.sync()

    assert report.deleted == 1
    assert EmailMessage.objects.count() == messages_before - 1
    after = RequestLog.objects.filter(mailbox=world.recruiter_box, id__gt=before)
    assert not after.filter(_naming(world, unrelated)).exists()
    assert not after.filter(**world.kit.whole_fetches).exists()
    assert not after.filter(**world.kit.header_checks).exists()


def test_a_deletion_hidden_by_an_expired_cursor_is_found_by_the_recovery(world):
    thread = _start_thread(world)
    deleted = _reply_with_cv(world)
    world.reply(world.candidate_box, world.recruiter.email, "And a second thought.")
    moved = world.latest_in(world.recruiter_box)
    world.sync()
    kept = _stored(world, moved)
    assert kept is not None and thread.messages.count() == 3

    _delete_for_good(deleted)
    sandbox.message_file(message=moved, folder="ARCHIVE")
    # The provider forgets the cursor: the change feed cannot say what happened.
    expire = {"google": sandbox.history_expire, "microsoft": sandbox.delta_expire}
    expire[world.kit.name](mailbox=world.recruiter_box)
    before = _last_log_id()
    report = world.sync()

    assert report.recovered
    assert report.deleted == 1
    assert list(thread.messages.filter(direction="inbound")) == [kept]
    checked = RequestLog.objects.filter(mailbox=world.recruiter_box, id__gt=before)
    assert not checked.filter(**world.kit.whole_fetches).exists()
    assert not checked.filter(**world.kit.header_checks).exists()


def test_a_colleagues_copy_keeps_the_message_until_their_mailbox_deletes_it_too(
    world, team, client_for
):
    thread = _start_thread(world)
    EmailThread.objects.filter(pk=thread.pk).update(visibility=EmailThread.Visibility.TEAM)
    colleague = UserFactory(
        organisation=team.organisation, email="colleague@acme.test", role=Role.TEAM_MEMBER
    )
    theirs = MailWorld(
        team, world.kit, client_for(colleague), recruiter=colleague, colleague_of=world
    )
    theirs.connect()
    mine = _reply_with_cv(world, cc=colleague.email)
    world.sync()
    theirs.sync()
    reply = thread.messages.get(direction="inbound")
    assert SyncedMessage.objects.filter(message=reply).count() == 2  # one email, two copies
    their_copy = Message.objects.get(mailbox=theirs.recruiter_box, rfc822_msgid=mine.rfc822_msgid)

    _delete_for_good(mine)
    assert world.sync().deleted == 0

    assert EmailMessage.objects.filter(pk=reply.pk).exists()
    assert EmailAttachment.objects.filter(message=reply).count() == 1
    (left,) = SyncedMessage.objects.filter(message=reply)
    assert left.mailbox.user == colleague

    _delete_for_good(their_copy)
    assert theirs.sync().deleted == 1
    assert not EmailMessage.objects.filter(pk=reply.pk).exists()
    assert thread.messages.count() == 1


def test_a_deleted_message_restored_to_the_inbox_comes_back(outlook_world):
    """No tombstone: mail put back in the mailbox is mail again (Outlook's Restore)."""
    world = outlook_world
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    world.sync()
    sandbox.message_move(message=copy, folder="TRASH")
    assert world.sync().deleted == 1

    sandbox.message_move(message=Message.objects.get(pk=copy.pk), folder="INBOX")
    assert world.sync().stored == 1

    assert thread.messages.filter(direction="inbound").count() == 1
