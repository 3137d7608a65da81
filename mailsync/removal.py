"""Removing email from Threadline, never from a mailbox: the mechanics behind the
`message_remove`, `thread_remove` and `removed_mail_restore` services.

A removed message leaves a tombstone per mailbox copy (that mailbox's provider id, so that
sync and import skip it before fetching anything) and keyed by its Message-ID's digest (so
that a copy from another mailbox, an import or routed mail is refused where messages are
stored, `ingest.message_store`). Tombstones hold no content. No provider is called: the
mail stays in every mailbox exactly as it was.
"""

from collections import defaultdict

from django.db.models import QuerySet

from accounts.models import User
from candidates.models import EmailMessage, EmailThread
from mailsync.models import MailboxConnection, RemovedMessage, SyncedMessage

REMOVAL_REFUSED = (
    "Only the thread's owner, its participants, Admins and Super Admins may remove it."
)


class RemovalRefused(Exception):
    """The user may not remove this; the message is for them."""


def thread_locked(thread: EmailThread) -> EmailThread | None:
    """The thread's row, locked until the caller's transaction ends, so that two removals
    of its last messages cannot both leave it behind empty; None if it is already gone."""
    return EmailThread.objects.select_for_update().filter(pk=thread.pk).first()


def tombstones_write(*, actor: User, thread: EmailThread, messages: QuerySet[EmailMessage]) -> int:
    """Tombstones for these messages of `thread`: one per mailbox copy (the mailbox and
    its provider id), or one by digest alone for a message no mailbox holds (routed
    mail). Returns how many messages they cover."""
    digests = dict(messages.values_list("pk", "message_id_digest"))
    copies: dict[int, list[tuple[int | None, str]]] = defaultdict(list)
    for message_id, mailbox_id, provider_message_id in SyncedMessage.objects.filter(
        message_id__in=digests
    ).values_list("message_id", "mailbox_id", "provider_message_id"):
        copies[message_id].append((mailbox_id, provider_message_id))
    RemovedMessage.objects.bulk_create(
        RemovedMessage(
            organisation_id=thread.organisation_id,
            candidate_id=thread.candidate_id,
            message_id_digest=digest,
            mailbox_id=mailbox_id,
            provider_message_id=provider_message_id,
            removed_by=actor,
        )
        for message_id, digest in digests.items()
        for mailbox_id, provider_message_id in copies[message_id] or [(None, "")]
    )
    return len(digests)


def tombstone_copy(
    *, tombstone: RemovedMessage, mailbox: MailboxConnection, provider_message_id: str
) -> None:
    """A removed message was found again, as another copy in `mailbox`: remember that
    copy's provider id too, so that the next round skips it before fetching it."""
    RemovedMessage.objects.get_or_create(
        organisation_id=tombstone.organisation_id,
        candidate_id=tombstone.candidate_id,
        message_id_digest=tombstone.message_id_digest,
        mailbox=mailbox,
        provider_message_id=provider_message_id[:500],
        defaults={"removed_by_id": tombstone.removed_by_id},
    )
