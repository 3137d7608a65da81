"""Sending from a user's own mailbox, from the candidate profile."""

import html
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

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
from mailsync.ingest import activity_advance, attachments_store
from mailsync.mime import SNIPPET_LENGTH, OutgoingAttachment
from mailsync.models import MailboxConnection, MailboxThread, SyncedMessage
from mailsync.providers.base import ProviderError
from mailsync.sync import labels_apply
from mailsync.threadref import message_id_digest
from mailsync.tokens import mark_needs_reauthorization, open_session

logger = logging.getLogger(__name__)
MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024


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
        subject=draft.subject[:998],
        body_text=draft.body_text,
        # Stored as every message is: cleaned once, here (ours is plain, but one rule).
        **prepare_html_for_storage(body_html, text_part=draft.body_text).as_model_fields(),
        snippet=" ".join(draft.body_text.split())[:SNIPPET_LENGTH],
        sent_at=sent_at,
    )
    attachments_store(message, draft.attachments)
    activity_advance(thread, sent_at)
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
        reason = (
            "Your mailbox needs re-authorization."
            if failure.needs_reauthorization
            else "The mail provider did not accept the message; please try again."
        )
        if failure.needs_reauthorization:
            mark_needs_reauthorization(mailbox, failure)
        logger.warning("Sending message %s failed: %s", message.pk, failure)
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
