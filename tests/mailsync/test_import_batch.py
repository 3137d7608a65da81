"""An import stores a fetched batch's messages together (mailsync.ingest.MessageBatch) and
falls back to storing them one by one (message_store_guarded, the way it always did) when
the batch cannot be written. Both ways store the same: the same threads, messages,
attachments, mailbox copies, activity, tombstones and counts."""

import email.policy
import email.utils
from email.message import EmailMessage as Mime

import pytest

from candidates.models import EmailThread
from core.attachment_storage import attachment_blob_read
from mailsync import manual_import
from mailsync.models import ImportJob, MailboxThread, RemovedMessage, SkippedMessage, SyncedMessage
from mailsync.services import candidate_import_start
from mailsync.threadref import message_id_digest
from sandbox import services as sandbox


@pytest.fixture(autouse=True)
def _tasks_run_in_process(tasks_in_process):
    pass


def _insert(world, minute: int, **headers: str) -> str:
    message = Mime(policy=email.policy.SMTP)
    message["From"] = email.utils.formataddr((world.candidate.full_name, world.candidate_address))
    message["To"] = world.recruiter.email
    message["Date"] = email.utils.formatdate(1_700_000_000 + minute * 60)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"Message at minute {minute}.")
    if minute % 3 == 0:
        message.add_alternative(f"<p>Minute <b>{minute}</b><img src='https://x.test/a.png'>")
    if minute % 4 == 0:
        message.add_attachment(
            b"%PDF-1.4 " * minute,
            maintype="application",
            subtype="pdf",
            filename=f"cv-{minute}.pdf",
        )
    sandbox.message_insert(
        mailbox=world.recruiter_box,
        raw=message.as_bytes(),
        labels=["INBOX"],
        internal_date=(1_700_000_000 + minute * 60) * 1000,
    )
    return str(message["Message-ID"])


def _mailbox_of_the_candidate(world) -> None:
    """Conversations with replies, HTML, attachments, a message without a Message-ID,
    one without a From (unreadable), and one removed from Threadline before."""
    for conversation in range(4):
        first = email.utils.make_msgid(domain="candidate.test")
        _insert(world, conversation * 10, Subject=f"Talk {conversation}", Message_ID=first)
        chain = first
        for reply in range(1, 4):
            message_id = email.utils.make_msgid(domain="candidate.test")
            _insert(
                world,
                conversation * 10 + reply,
                Subject=f"Re: Talk {conversation}",
                Message_ID=message_id,
                In_Reply_To=chain.split()[-1],
                References=chain,
            )
            chain = f"{chain} {message_id}"
    _insert(world, 50, Subject="No Message-ID")
    removed = email.utils.make_msgid(domain="candidate.test")
    _insert(world, 51, Subject="Removed before", Message_ID=removed)
    RemovedMessage.objects.create(
        organisation=world.team.organisation,
        candidate=world.candidate,
        message_id_digest=message_id_digest(removed),
        removed_by=world.recruiter,
    )
    sandbox.message_insert(
        mailbox=world.recruiter_box,
        raw=f"To: {world.candidate_address}\r\nSubject: no sender\r\n\r\nx\r\n".encode(),
        labels=["INBOX"],
        internal_date=1_700_009_000_000,
    )


def _stored(world) -> dict:
    """What the import stored, without ids and creation times."""

    def message_key(message) -> tuple:
        return (
            message.subject,
            message.from_header,
            message.to_header,
            message.body_text,
            message.body_html,
            message.body_html_display,
            message.has_remote_images,
            message.html_too_complex,
            message.snippet,
            message.sent_at,
            message.direction,
            message.status,
            message.sender_id,
            message.message_id if "generated-" not in message.message_id else "generated",
            tuple(
                (a.filename, a.content_type, a.size, attachment_blob_read(a.blob))
                for a in message.attachments.all()
            ),
        )

    threads = EmailThread.objects.filter(candidate=world.candidate).prefetch_related(
        "messages__attachments"
    )
    job = ImportJob.objects.filter(user=world.recruiter).latest("created_at")
    return {
        "threads": sorted(
            (
                thread.subject,
                thread.owner_id,
                thread.visibility,
                thread.origin,
                thread.last_inbound_at,
                thread.last_outbound_at,
                tuple(sorted(message_key(m) for m in thread.messages.all())),
            )
            for thread in threads
        ),
        "copies": sorted(
            (copy.provider_message_id, message_key(copy.message))
            for copy in SyncedMessage.objects.select_related("message")
        ),
        "links": sorted(
            (link.provider_thread_id, link.thread.subject)
            for link in MailboxThread.objects.select_related("thread")
        ),
        "skipped": sorted(SkippedMessage.objects.values_list("provider_message_id", "reason")),
        "tombstones": sorted(
            RemovedMessage.objects.values_list("message_id_digest", "provider_message_id")
        ),
        "counts": (
            job.state,
            job.found,
            job.imported,
            job.already_there,
            job.skipped,
            job.removed_kept_out,
            job.threads,
        ),
    }


def _forget_the_import(world) -> None:
    EmailThread.objects.filter(candidate=world.candidate).delete()
    for model in (SyncedMessage, MailboxThread, SkippedMessage, ImportJob):
        model.objects.all().delete()
    RemovedMessage.objects.exclude(provider_message_id="").delete()


def _one_by_one_only(*args, **kwargs):
    raise RuntimeError("the batch cannot be written")


def test_a_batch_stores_what_one_by_one_stores(gmail_world, settings, monkeypatch, caplog):
    world = gmail_world
    settings.MAILSYNC_BATCH_SIZE = 7  # batches that split conversations
    world.connect()
    _mailbox_of_the_candidate(world)

    candidate_import_start(actor=world.recruiter, candidate=world.candidate)
    batched = _stored(world)
    assert "one by one" not in caplog.text  # every batch was written as a batch
    _forget_the_import(world)
    monkeypatch.setattr(manual_import, "_store_batched", _one_by_one_only)
    candidate_import_start(actor=world.recruiter, candidate=world.candidate)
    one_by_one = _stored(world)

    assert batched == one_by_one
    assert batched["counts"] == ("finished", 19, 17, 0, 1, 1, 5)
    assert len(batched["threads"]) == 5 and len(batched["skipped"]) == 1
    assert any(message[-1] for thread in batched["threads"] for message in thread[-1])
