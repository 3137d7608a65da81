"""One entry point that stores a message of interest, whichever way it arrived: full sync,
manual import, or inbound routing. Sending records its own messages (`sending.py`).

Two rules live here and nowhere else:
- who wrote a message is decided by where it was found, never by its From header: the
  caller passes the `author` (the mailbox owner when the provider filed it as sent);
- a mailbox writes only into threads its owner may see (`threads_visible_to`; the
  callers send the rest to `private_thread_for`);
- a message removed from a candidate's Threadline stays out (`MessageRemoved`), by
  whichever of those ways a copy comes back.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, F, Max, Q, Value, When

from accounts.models import User
from candidates import policy
from candidates.models import Candidate, EmailAttachment, EmailMessage, EmailThread
from candidates.rendering import clean_attachment_name, prepare_html_for_storage
from core.attachment_storage import attachment_blob_write
from mailsync.mime import ParsedMessage
from mailsync.models import MailboxConnection, MailboxThread, RemovedMessage, SyncedMessage
from mailsync.retention import thread_revived
from mailsync.selectors import removed_tombstone
from mailsync.threadref import message_id_digest, thread_from_headers


@dataclass(frozen=True)
class Stored:
    message: EmailMessage
    created: bool


class MessageRemoved(Exception):
    """A user removed this message from the candidate's Threadline: it is not stored
    again. Not a failure: callers count it as handled (`tombstone` says who removed it)."""

    def __init__(self, tombstone: RemovedMessage) -> None:
        super().__init__("The message was removed from Threadline.")
        self.tombstone = tombstone


def thread_for_references(*, organisation_id: int, headers: list[str | None]) -> EmailThread | None:
    """The Threadline thread a message's signed references name, within this organisation;
    one that retention removed comes back, empty, to take the new message."""
    thread_id = thread_from_headers(headers)
    if thread_id is None:
        return None
    thread = EmailThread.objects.filter(pk=thread_id, organisation_id=organisation_id).first()
    return thread or thread_revived(organisation_id=organisation_id, thread_id=thread_id)


def threads_visible_to(user: User, thread_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these threads `user` may see: the only ones mail from their mailbox, or
    written by them, may join."""
    if not thread_ids:
        return set()
    return set(policy.visible_threads(user).filter(pk__in=thread_ids).values_list("pk", flat=True))


def private_thread_for(*, owner: User, candidate_id: uuid.UUID, subject: str) -> EmailThread:
    """A new private thread of `owner`: where mail from their mailbox goes when it belongs
    to a thread they may not see, or to no thread yet (import). Nobody started it in
    Threadline: it shows as brought in from their mailbox."""
    # A mailbox's owner is a member, whose organisation_id is set (django-stubs cannot
    # know that from the nullable field).
    return EmailThread.objects.create(  # type: ignore[misc]
        organisation_id=owner.organisation_id,
        candidate_id=candidate_id,
        owner=owner,
        origin=EmailThread.Origin.IMPORTED,
        subject=subject[:998],
        visibility=EmailThread.Visibility.PRIVATE,
    )


def own_thread_continued(
    *, owner: User, candidate_id: uuid.UUID, parsed: ParsedMessage
) -> EmailThread | None:
    """A thread of `owner`'s on this candidate that already holds this message or one it
    answers: where a message diverted from a thread they may not see goes again, so that a
    conversation (or a second copy of the same message) stays in one place."""
    cited = {parsed.message_id, parsed.in_reply_to, *parsed.references.split()}
    digests = [message_id_digest(value) for value in cited if value.strip()]
    found = (
        EmailMessage.objects.filter(
            thread__owner=owner, thread__candidate_id=candidate_id, message_id_digest__in=digests
        )
        .select_related("thread")
        .order_by("-sent_at")
        .first()
    )
    return found.thread if found else None


def member_by_address(*, organisation_id: int, address: str) -> User | None:
    """The organisation's active user with this login or connected mailbox address. Only
    for mail whose origin is proven otherwise: an address alone proves nothing."""
    if not address:
        return None
    return (
        User.objects.filter(organisation_id=organisation_id, is_active=True)
        .filter(Q(email__iexact=address) | Q(mailbox__account_address__iexact=address))
        .first()
    )


def message_store(
    *,
    thread: EmailThread,
    parsed: ParsedMessage,
    author: User | None,
    mailbox: MailboxConnection | None = None,
    provider_message_id: str = "",
    provider_thread_id: str = "",
) -> Stored:
    """Store `parsed` on `thread` once, however often it is seen, and remember which
    mailbox copy it came from. `author` is the user who wrote it, known from where it was
    found (None: someone outside, the candidate). Safe to call again after a crash.
    Raises MessageRemoved, storing nothing, for a message removed from the candidate's
    Threadline (any copy of it, by any way).

    The caller has already decided that the mailbox may write to `thread`."""
    message_id = parsed.message_id or f"<generated-{uuid.uuid4().hex}@threadline.invalid>"
    digest = message_id_digest(message_id)
    with transaction.atomic():
        existing = EmailMessage.objects.filter(thread=thread, message_id_digest=digest).first()
        created = existing is None
        if created:
            tombstone = removed_tombstone(
                organisation_id=thread.organisation_id,
                candidate_id=thread.candidate_id,
                message_id_digest=digest,
            )
            if tombstone is not None:
                raise MessageRemoved(tombstone)
        message = existing or _create_message(thread, parsed, message_id, digest, author)
        if created and not thread.subject and parsed.subject:
            # A thread brought back by retention starts without one: its first new message's.
            thread.subject = parsed.subject[:998]
            thread.save(update_fields=["subject"])
        # One statement each (an upsert), where get_or_create and update_or_create took
        # four: a copy already recorded stays as it is; the provider thread follows `thread`.
        if mailbox is not None and provider_message_id:
            SyncedMessage.objects.bulk_create(
                [
                    SyncedMessage(
                        mailbox=mailbox, provider_message_id=provider_message_id, message=message
                    )
                ],
                ignore_conflicts=True,
            )
        if mailbox is not None and provider_thread_id:
            MailboxThread.objects.bulk_create(
                [
                    MailboxThread(
                        mailbox=mailbox, provider_thread_id=provider_thread_id, thread=thread
                    )
                ],
                update_conflicts=True,
                unique_fields=["mailbox", "provider_thread_id"],
                update_fields=["thread"],
            )
    return Stored(message=message, created=created)


def _create_message(
    thread: EmailThread,
    parsed: ParsedMessage,
    message_id: str,
    digest: str,
    author: User | None,
) -> EmailMessage:
    try:
        with transaction.atomic():
            message = EmailMessage.objects.create(
                thread=thread,
                message_id=message_id,
                message_id_digest=digest,
                direction=(
                    EmailMessage.Direction.OUTBOUND if author else EmailMessage.Direction.INBOUND
                ),
                status=EmailMessage.Status.SYNCED,
                sender=author,
                from_header=parsed.from_header[:998],
                to_header=parsed.to_header,
                cc_header=parsed.cc_header,
                subject=parsed.subject[:998],
                body_text=parsed.body_text,
                # Cleaned here, once, under caps: never again when the tab is shown.
                **prepare_html_for_storage(
                    parsed.body_html, text_part=parsed.body_text
                ).as_model_fields(),
                snippet=parsed.snippet,
                sent_at=parsed.sent_at,
            )
    except IntegrityError:
        # Another worker stored the same Message-ID on this thread a moment ago.
        return EmailMessage.objects.get(thread=thread, message_id_digest=digest)
    attachments_store(message, parsed.attachments)
    activity_advance(thread, parsed.sent_at, direction=message.direction)
    return message


class _Attachment(Protocol):
    # Read-only members, so that frozen dataclasses (ParsedAttachment, OutgoingAttachment)
    # match: a settable protocol attribute would not.
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def content(self) -> bytes: ...


def attachments_store(message: EmailMessage, attachments: Iterable[_Attachment]) -> None:
    # The bytes are written to storage before the rows: should the transaction roll back,
    # what is left is an unreferenced file of ciphertext, never a row without its bytes.
    EmailAttachment.objects.bulk_create(
        EmailAttachment(
            message=message,
            # No bidi or other control characters: `invoice\u202efdp.exe` is not a PDF.
            filename=clean_attachment_name(attachment.filename)[:255],
            content_type=attachment.content_type[:255],
            size=len(attachment.content),
            blob=attachment_blob_write(attachment.content),
        )
        for attachment in attachments
    )


def activity_advance(thread: EmailThread, at: datetime, *, direction: str) -> None:
    """Activity only moves forward, whatever order messages arrive in (the thread's two
    times in one statement, each moved only where it is older)."""
    newest_each_way = (
        "last_inbound_at" if direction == EmailMessage.Direction.INBOUND else "last_outbound_at"
    )
    later = Value(at, output_field=DateTimeField())
    EmailThread.objects.filter(pk=thread.pk).update(
        last_message_at=Case(
            When(last_message_at__lt=at, then=later), default=F("last_message_at")
        ),
        **{
            newest_each_way: Case(
                When(
                    Q(**{f"{newest_each_way}__isnull": True}) | Q(**{f"{newest_each_way}__lt": at}),
                    then=later,
                ),
                default=F(newest_each_way),
            )
        },
    )
    Candidate.objects.filter(pk=thread.candidate_id, updated_at__lt=at).update(updated_at=at)


def activity_recompute(thread: EmailThread) -> None:
    """Activity from the messages the thread still holds, after some were removed: the
    one case where it moves back. The candidate's own activity time is left as it is."""
    newest = thread.messages.aggregate(
        last_message_at=Max("sent_at"),
        last_inbound_at=Max("sent_at", filter=Q(direction=EmailMessage.Direction.INBOUND)),
        last_outbound_at=Max("sent_at", filter=Q(direction=EmailMessage.Direction.OUTBOUND)),
    )
    if newest["last_message_at"] is None:
        return  # no message left: the caller removes the thread
    EmailThread.objects.filter(pk=thread.pk).update(**newest)
