"""One entry point that stores a message of interest, whichever way it arrived:
full sync, manual import, or inbound routing."""

import base64
import logging
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import User
from candidates.models import Candidate, EmailAttachment, EmailMessage, EmailThread
from candidates.rendering import prepare_html_for_storage
from mailsync.mime import ParsedMessage
from mailsync.models import MailboxConnection, MailboxThread, SyncedMessage
from mailsync.threadref import message_id_digest, thread_from_headers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    message: EmailMessage
    created: bool


def thread_for_references(*, organisation_id: int, headers: list[str | None]) -> EmailThread | None:
    """The Threadline thread a message's signed references name, within this organisation."""
    thread_id = thread_from_headers(headers)
    if thread_id is None:
        return None
    return EmailThread.objects.filter(pk=thread_id, organisation_id=organisation_id).first()


def _sender(organisation_id: int, from_address: str) -> User | None:
    """The organisation's user who wrote a message, by login or connected mailbox address."""
    return (
        User.objects.filter(organisation_id=organisation_id, is_active=True)
        .filter(Q(email__iexact=from_address) | Q(mailbox__account_address__iexact=from_address))
        .first()
    )


def process_message(
    *,
    thread: EmailThread,
    parsed: ParsedMessage,
    mailbox: MailboxConnection | None = None,
    provider_message_id: str = "",
    provider_thread_id: str = "",
) -> Stored:
    """Store `parsed` on `thread` once, however often it is seen, and remember which
    mailbox copy it came from. Safe to call again after a crash."""
    message_id = parsed.message_id or f"<generated-{uuid.uuid4().hex}@threadline.invalid>"
    digest = message_id_digest(message_id)
    with transaction.atomic():
        existing = EmailMessage.objects.filter(thread=thread, message_id_digest=digest).first()
        created = existing is None
        message = existing or _create_message(thread, parsed, message_id, digest)
        if mailbox is not None and provider_message_id:
            SyncedMessage.objects.get_or_create(
                mailbox=mailbox,
                provider_message_id=provider_message_id,
                defaults={"message": message},
            )
        if mailbox is not None and provider_thread_id:
            MailboxThread.objects.get_or_create(
                mailbox=mailbox, provider_thread_id=provider_thread_id, defaults={"thread": thread}
            )
    return Stored(message=message, created=created)


def _create_message(
    thread: EmailThread, parsed: ParsedMessage, message_id: str, digest: str
) -> EmailMessage:
    sender = _sender(thread.organisation_id, parsed.from_address)
    try:
        with transaction.atomic():
            message = EmailMessage.objects.create(
                thread=thread,
                message_id=message_id,
                message_id_digest=digest,
                direction=(
                    EmailMessage.Direction.OUTBOUND if sender else EmailMessage.Direction.INBOUND
                ),
                status=EmailMessage.Status.SYNCED,
                sender=sender,
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
    EmailAttachment.objects.bulk_create(
        EmailAttachment(
            message=message,
            filename=attachment.filename[:255],
            content_type=attachment.content_type[:255],
            size=len(attachment.content),
            content_b64=base64.b64encode(attachment.content).decode(),
        )
        for attachment in parsed.attachments
    )
    # Activity only moves forward, whatever order messages arrive in.
    EmailThread.objects.filter(pk=thread.pk, last_message_at__lt=parsed.sent_at).update(
        last_message_at=parsed.sent_at
    )
    Candidate.objects.filter(pk=thread.candidate_id, updated_at__lt=parsed.sent_at).update(
        updated_at=parsed.sent_at
    )
    return message
