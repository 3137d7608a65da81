"""Remove email / Remove thread from Threadline, on Gmail and on Outlook alike: the mail
leaves Threadline (attachments too) and stays out, through the next sync, a recovery that
re-lists the thread, a second copy of the same message and an import; the mailbox is never
changed; and "bring removed mail back" lets an import restore it."""

import email.policy
import email.utils
from email.message import EmailMessage as Mime
from urllib.parse import quote

from django.db.models import Q
from django.urls import reverse

from candidates.models import EmailAttachment, EmailMessage, EmailThread
from mailsync.models import ImportJob, RemovedMessage, SyncedMessage
from mailsync.selectors import removed_count_for
from mailsync.sending import Draft
from mailsync.services import message_send, removed_mail_restore
from sandbox import services as sandbox
from sandbox.models import Message, RequestLog

# Anything but reading: what "the mailbox is never touched" rules out for a removed message.
MAILBOX_CHANGES = ("modify", "trash", "delete", "move", "patch", "batchModify", "untrash")


def _start_thread(world) -> EmailThread:
    world.connect()
    message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Platform role", body_text="Talk soon?"),
    )
    return EmailThread.objects.get(candidate=world.candidate)


def _reply_with_cv(world) -> Message:
    """The candidate answers from their mail client, with their CV attached."""
    original = world.latest_in(world.candidate_box)
    headers = {name.lower(): value for name, value in original.headers}
    reply = Mime(policy=email.policy.SMTP)
    reply["From"] = email.utils.formataddr((world.candidate.full_name, world.candidate_address))
    reply["To"] = world.recruiter.email
    reply["Subject"] = "Re: Platform role"
    reply["Message-ID"] = email.utils.make_msgid(domain="candidates.test")
    reply["In-Reply-To"] = headers["message-id"]
    reply["References"] = headers["message-id"]
    reply.set_content("Yes! My CV is attached.")
    reply.add_attachment(b"%PDF-1.4 cv", maintype="application", subtype="pdf", filename="cv.pdf")
    sent = sandbox.message_send(mailbox=world.candidate_box, raw=reply.as_bytes())
    assert sent is not None
    return Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=sent.rfc822_msgid)


def _remove_message(world, message: EmailMessage, **headers):
    return world.client.post(
        reverse("mailsync:message_remove", args=[world.candidate.pk, message.pk]), **headers
    )


def _remove_thread(world, thread: EmailThread, **headers):
    return world.client.post(
        reverse("mailsync:thread_remove", args=[world.candidate.pk, thread.pk]), **headers
    )


def _expire_cursor(world) -> None:
    """The provider forgets the cursor: the next sync re-lists every known thread."""
    expire = {"google": sandbox.history_expire, "microsoft": sandbox.delta_expire}
    expire[world.kit.name](mailbox=world.recruiter_box)


def _about(world, copy: Message) -> Q:
    """Requests naming this mailbox copy in their path (Graph's ids are URL-quoted there)."""
    api_id = world.kit.api_id(copy)
    return Q(path__contains=api_id) | Q(path__contains=quote(api_id, safe=""))


def _changes_to(world, copy: Message, after: int):
    """Requests after `after` that changed (or tried to change) this mailbox copy."""
    return (
        RequestLog.objects.filter(mailbox=world.recruiter_box, id__gt=after)
        .filter(_about(world, copy))
        .exclude(method="GET")
    )


def _last_log_id() -> int:
    return RequestLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_removed_email_stays_removed_and_the_mailbox_is_untouched(world):
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    assert world.sync().stored == 1
    reply = thread.messages.get(direction="inbound")
    assert reply.attachments.count() == 1
    copy.refresh_from_db()
    assert world.kit.own_label_on(copy)  # our own label: the one change we ever make
    labels_before = (copy.label_ids, copy.categories)
    before_removal = _last_log_id()

    removed = _remove_message(world, reply)

    assert removed.status_code == 302
    assert removed["Location"] == reverse("mailsync:emails", args=[world.candidate.pk])
    assert not EmailMessage.objects.filter(pk=reply.pk).exists()
    assert not EmailAttachment.objects.filter(message_id=reply.pk).exists()
    assert thread.messages.count() == 1  # the recruiter's first email stays
    tombstone = RemovedMessage.objects.get(candidate=world.candidate)
    assert tombstone.mailbox.user == world.recruiter
    assert tombstone.provider_message_id == world.kit.api_id(copy)
    assert tombstone.removed_by == world.recruiter
    assert _last_log_id() == before_removal  # removing called no provider at all

    world.reply(world.candidate_box, world.recruiter.email, "Also: Monday works.")
    assert world.sync().stored == 1  # a new reply still comes in
    _expire_cursor(world)
    after_removal = _last_log_id()
    recovery = world.sync()

    assert recovery.recovered
    assert recovery.stored == 0
    assert thread.messages.filter(direction="inbound").count() == 1  # Monday's
    assert (
        "My CV is attached"
        not in world.client.get(
            reverse("mailsync:emails", args=[world.candidate.pk])
        ).content.decode()
    )
    # Listed again by the recovery, and kept out before it was fetched.
    assert not world.whole_fetches().filter(id__gt=after_removal).filter(_about(world, copy))
    assert not _changes_to(world, copy, before_removal).exists()
    assert not (
        RequestLog.objects.filter(
            mailbox=world.recruiter_box,
            id__gt=before_removal,
            operation__regex=r"\.(" + "|".join(MAILBOX_CHANGES) + r")$",
        )
        .filter(_about(world, copy))
        .exists()
    )
    copy.refresh_from_db()
    assert (copy.label_ids, copy.categories) == labels_before
    assert Message.objects.filter(pk=copy.pk, mailbox=world.recruiter_box).exists()


def test_a_second_copy_of_a_removed_email_is_kept_out_by_its_message_id(world):
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    world.sync()
    _remove_message(world, thread.messages.get(direction="inbound"))

    # The same message delivered again: a new copy, with a provider id of its own.
    again = sandbox.message_deliver(mailbox=world.recruiter_box, raw=bytes(copy.raw))
    report = world.sync()

    assert report.removed == 1
    assert report.stored == 0
    assert report.skipped == 0
    assert thread.messages.count() == 1
    assert EmailThread.objects.filter(candidate=world.candidate).count() == 1
    assert RemovedMessage.objects.filter(provider_message_id=world.kit.api_id(again)).exists()
    # Handled: the next round does not fetch it again.
    _expire_cursor(world)
    before = _last_log_id()
    assert world.sync().removed == 0
    assert not world.whole_fetches().filter(id__gt=before).filter(_about(world, again))


def test_removing_a_thread_removes_its_messages_and_attachments_for_good(world):
    thread = _start_thread(world)
    copy = _reply_with_cv(world)
    world.sync()
    before_removal = _last_log_id()

    removed = _remove_thread(world, thread)

    assert removed.status_code == 302
    assert not EmailThread.objects.filter(pk=thread.pk).exists()
    assert not EmailMessage.objects.filter(thread_id=thread.pk).exists()
    assert not EmailAttachment.objects.exists()
    assert not SyncedMessage.objects.exists()
    assert RemovedMessage.objects.filter(candidate=world.candidate).count() == 2
    assert _last_log_id() == before_removal

    world.reply(world.candidate_box, world.recruiter.email, "Hello again?", to_message=copy)
    _expire_cursor(world)
    world.sync()

    assert not EmailThread.objects.filter(candidate=world.candidate).exists()
    assert not _changes_to(world, copy, before_removal).exists()


def test_removing_the_last_email_removes_the_thread(world):
    thread = _start_thread(world)

    response = _remove_message(world, thread.messages.get(), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Retarget"] == f"#thread-{thread.pk}"
    assert "removed from Threadline with its thread" in response.content.decode()
    assert not EmailThread.objects.filter(pk=thread.pk).exists()


def test_an_import_keeps_removed_mail_out_until_the_user_brings_it_back(world, tasks_in_process):
    thread = _start_thread(world)
    _reply_with_cv(world)
    world.sync()
    _remove_thread(world, thread)
    mailbox = world.recruiter.mailbox
    assert removed_count_for(mailbox=mailbox, candidate_id=world.candidate.pk) == 2

    kept_out = world.client.post(
        reverse("mailsync:email_import", args=[world.candidate.pk]), follow=True
    )

    job = ImportJob.objects.get(user=world.recruiter)
    assert (job.found, job.imported, job.removed_kept_out) == (2, 0, 2)
    assert "Removed, kept out" in kept_out.content.decode()
    assert not EmailThread.objects.filter(candidate=world.candidate).exists()

    assert removed_mail_restore(actor=world.recruiter, candidate=world.candidate, mailbox=mailbox)
    back = world.client.post(
        reverse("mailsync:email_import", args=[world.candidate.pk]), follow=True
    )

    assert "2 new messages in 1 thread" in back.content.decode()
    assert removed_count_for(mailbox=mailbox, candidate_id=world.candidate.pk) == 0
    assert [a.filename for a in EmailAttachment.objects.all()] == ["cv.pdf"]
