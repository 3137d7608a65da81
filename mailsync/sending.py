"""Sending from a user's own mailbox, from the candidate profile: the draft, its
recipients and attachments (kept between tries), and handing it to the provider."""

import html
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation, User
from candidates.addresses import normalise_email_address
from candidates.models import (
    Candidate,
    CandidateEmail,
    EmailMessage,
    EmailThread,
)
from candidates.rendering import prepare_html_for_storage
from candidates.services import CandidateError, candidate_add_email
from core.attachment_storage import attachment_blob_read, attachment_blob_write
from mailsync.ingest import activity_advance, attachments_store
from mailsync.mime import SNIPPET_LENGTH, OutgoingAttachment
from mailsync.models import DraftAttachment, MailboxConnection, MailboxThread, SyncedMessage
from mailsync.providers.base import ProviderError
from mailsync.sync import labels_apply
from mailsync.threadref import message_id_digest
from mailsync.tokens import mark_needs_reauthorization, open_session

logger = logging.getLogger(__name__)
# Gmail's limit for the files of one message; Outlook's default (35 MB for the whole
# message, encoded) admits as much.
MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024
# File types both providers refuse to carry (Gmail blocks them outright, Outlook on the
# web withholds them from recipients): refused here, with a field error, before sending.
BLOCKED_EXTENSIONS = frozenset(
    [
        "ade",
        "adp",
        "apk",
        "appx",
        "appxbundle",
        "bat",
        "cab",
        "chm",
        "cmd",
        "com",
        "cpl",
        "diagcab",
        "diagcfg",
        "diagpack",
        "dll",
        "dmg",
        "ex",
        "ex_",
        "exe",
        "hta",
        "img",
        "ins",
        "iso",
        "isp",
        "jar",
        "jnlp",
        "js",
        "jse",
        "lib",
        "lnk",
        "mde",
        "msc",
        "msi",
        "msix",
        "msixbundle",
        "msp",
        "mst",
        "nsh",
        "pif",
        "ps1",
        "scr",
        "sct",
        "shb",
        "sys",
        "vb",
        "vbe",
        "vbs",
        "vhd",
        "vxd",
        "wsc",
        "wsf",
        "wsh",
        "xll",
    ]
)
# Files kept from a refused compose form wait this long for the next try.
DRAFT_ATTACHMENT_LIFETIME = timedelta(days=1)
# A compose form's one-time token is remembered this long after its message went out.
SEND_TOKEN_SECONDS = 24 * 60 * 60


class SendError(Exception):
    """Why a message could not be sent; `field` names the compose field at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Draft:
    to: str
    subject: str
    body_text: str
    attachments: tuple[OutgoingAttachment, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    # Files kept from an earlier, refused try (among `attachments`): gone once it is sent.
    kept_attachment_ids: tuple[uuid.UUID, ...] = ()


def blocked_extension(filename: str) -> str:
    """The file's extension when it is one the providers refuse, else ""."""
    _, dot, extension = filename.rpartition(".")
    extension = extension.lower()
    return extension if dot and extension in BLOCKED_EXTENSIONS else ""


def draft_attachments_store(
    *, user: User, attachments: Sequence[OutgoingAttachment]
) -> list[DraftAttachment]:
    """Keep files of a compose form the server refused, encrypted, for the next try."""
    return [
        DraftAttachment.objects.create(
            user=user,
            filename=attachment.filename[:255],
            content_type=attachment.content_type[:255],
            size=len(attachment.content),
            blob=attachment_blob_write(attachment.content),
        )
        for attachment in attachments
    ]


def draft_attachment_outgoing(kept: DraftAttachment) -> OutgoingAttachment:
    return OutgoingAttachment(
        filename=kept.filename,
        content_type=kept.content_type,
        content=attachment_blob_read(kept.blob),
    )


def draft_attachments_expire(*, now: datetime | None = None) -> int:
    """Remove kept files nobody came back for within a day."""
    cutoff = (now or timezone.now()) - DRAFT_ATTACHMENT_LIFETIME
    deleted, _ = DraftAttachment.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _send_token_key(user: User, token: str) -> str:
    return f"mailsync:send-token:{user.pk}:{token}"


def send_token_claim(user: User, token: str) -> bool:
    """True the first time a compose form's token is presented (cache.add is atomic on
    every shared cache), so a double submit sends once. A form without one is not held."""
    if not token:
        return True
    return bool(cache.add(_send_token_key(user, token), True, SEND_TOKEN_SECONDS))


def send_token_release(user: User, token: str) -> None:
    """The send failed: the same form may be submitted again."""
    if token:
        cache.delete(_send_token_key(user, token))


def html_from_text(text: str) -> str:
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


def recipient_address(actor: User, candidate: Candidate, to: str) -> str:
    """The address to write to; a new one typed in is saved on the profile first."""
    try:
        address = normalise_email_address(to)
    except Exception:
        raise SendError("Enter a valid email address.", field="to") from None
    if not CandidateEmail.objects.filter(candidate=candidate, address=address).exists():
        try:
            candidate_add_email(actor=actor, candidate=candidate, address=address)
        except CandidateError as error:
            raise SendError(str(error), field="to") from None
    return address


def outgoing_record(
    *,
    thread: EmailThread,
    actor: User,
    from_header: str,
    to: str,
    message_id: str,
    draft: Draft,
    body_html: str,
    sent_at: datetime,
) -> EmailMessage:
    """What we are about to send, as we wrote it: no need to parse our own MIME back."""
    message = EmailMessage.objects.create(
        thread=thread,
        message_id=message_id,
        message_id_digest=message_id_digest(message_id),
        direction=EmailMessage.Direction.OUTBOUND,
        status=EmailMessage.Status.SENDING,
        sender=actor,
        from_header=from_header[:998],
        to_header=to,
        cc_header=", ".join(draft.cc),
        subject=draft.subject[:998],
        body_text=draft.body_text,
        # Stored as every message is: cleaned once, here (ours is plain, but one rule).
        **prepare_html_for_storage(body_html, text_part=draft.body_text).as_model_fields(),
        snippet=" ".join(draft.body_text.split())[:SNIPPET_LENGTH],
        sent_at=sent_at,
    )
    attachments_store(message, draft.attachments)
    activity_advance(thread, sent_at, direction=EmailMessage.Direction.OUTBOUND)
    return message


def outgoing_deliver(
    mailbox: MailboxConnection, thread: EmailThread, message: EmailMessage, raw: bytes
) -> None:
    provider_thread = MailboxThread.objects.filter(mailbox=mailbox, thread=thread).first()
    send_only = mailbox.sync_level == Organisation.SyncLevel.LIMITED
    session = open_session(mailbox)
    try:
        sent = session.send(
            raw,
            thread_id=provider_thread.provider_thread_id if provider_thread else "",
            send_only=send_only,
        )
    except ProviderError as failure:
        logger.warning("Sending message %s failed: %s", message.pk, failure)
        if failure.status == 413 or failure.reason == "too_large":
            raise SendError(
                "The mail provider refused the message as too large; attach fewer or "
                "smaller files.",
                field="attachments",
            ) from failure
        reason = (
            "Your mailbox needs re-authorization."
            if failure.needs_reauthorization
            else "The mail provider did not accept the message; please try again."
        )
        if failure.needs_reauthorization:
            mark_needs_reauthorization(mailbox, failure)
        raise SendError(reason) from failure
    with transaction.atomic():
        EmailMessage.objects.filter(pk=message.pk).update(status=EmailMessage.Status.SENT)
        if sent.id:
            SyncedMessage.objects.get_or_create(
                mailbox=mailbox, provider_message_id=sent.id, defaults={"message": message}
            )
        if sent.thread_id:
            MailboxThread.objects.get_or_create(
                mailbox=mailbox, provider_thread_id=sent.thread_id, defaults={"thread": thread}
            )
    if send_only:
        # No label: it needs more than send permission, and nothing syncs this mailbox.
        return
    try:
        labels_apply(mailbox, session, [sent.id])
    except ProviderError as failure:
        # The next sync labels whatever is still unlabelled.
        logger.info("Labelling sent message %s deferred: %s", message.pk, failure)
