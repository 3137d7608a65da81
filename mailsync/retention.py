"""Retention (issue 12): a thread with no message sent or received for the organisation's
retention period (`Organisation.retention_months`) is removed with its messages, their
attachments and its mailbox links, by a daily beat run (`services.retention_sweep`).

Removed by retention is not "removed by a user": no tombstone is written, so nothing is
kept out. Only the thread's id is remembered (`RetiredThread`, no content), so that a
reply citing the thread later brings it back under the same id holding just the new
messages; the old ones are not fetched again (sync reads only what is new since its
cursor).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, time

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from candidates.models import EmailMessage, EmailThread
from mailsync.models import RetiredThread

# Beat's daily run, at a quiet hour (UTC); the settings page names it.
RUN_AT_UTC = time(3, 30)
# Threads removed per transaction: bounds memory and lock time however many are due.
BATCH_SIZE = 200


@dataclass(frozen=True)
class RetentionReport:
    organisation_id: int
    months: int
    cutoff: datetime
    removed: int
    dry_run: bool


def retention_cutoff(*, months: int, now: datetime) -> datetime:
    """Threads with no message at or after this moment are due."""
    return now - relativedelta(months=months)


def threads_due(*, organisation_id: int, cutoff: datetime) -> QuerySet[EmailThread]:
    """The organisation's threads with no message sent or received since `cutoff`.

    Decided by the messages' own times, not `EmailThread.last_message_at`: that starts as
    the thread's creation time and only moves forward, so a thread imported from a mailbox
    keeps the time it was imported. A thread holding no message at all (a send that was
    withdrawn) is due once it is older than the period itself."""
    recent = EmailMessage.objects.filter(thread=OuterRef("pk"), sent_at__gte=cutoff)
    any_message = EmailMessage.objects.filter(thread=OuterRef("pk"))
    return EmailThread.objects.filter(organisation_id=organisation_id).filter(
        ~Exists(recent) & (Exists(any_message) | Q(created_at__lt=cutoff))
    )


def threads_retire_batch(*, organisation_id: int, cutoff: datetime, size: int = BATCH_SIZE) -> int:
    """Remove up to `size` due threads in one transaction; how many went (0: none left).
    Their messages, attachments, mailbox links (MailboxThread, SyncedMessage) and seen
    marks go by cascade. Rows are locked and the rule asked again under the lock, so a
    reply stored a moment ago keeps its thread."""
    with transaction.atomic():
        ids = list(
            threads_due(organisation_id=organisation_id, cutoff=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return 0
        locked = list(
            threads_due(organisation_id=organisation_id, cutoff=cutoff)
            .select_for_update()
            .filter(pk__in=ids)
            .values_list("pk", "candidate_id", "owner_id")
        )
        RetiredThread.objects.bulk_create(
            (
                RetiredThread(
                    thread_id=pk,
                    organisation_id=organisation_id,
                    candidate_id=candidate_id,
                    owner_id=owner_id,
                )
                for pk, candidate_id, owner_id in locked
            ),
            ignore_conflicts=True,
        )
        # Only ids are read to delete (no subject decrypted; messages likewise by cascade).
        EmailThread.objects.filter(pk__in=[pk for pk, _, _ in locked]).only("pk").delete()
    return len(locked)


def thread_revived(*, organisation_id: int, thread_id: uuid.UUID) -> EmailThread | None:
    """The thread retention removed under `thread_id`, back and empty, because a message
    citing it arrived; None if retention never removed such a thread here (a thread a
    user removed stays removed). Private to its owner, as any new thread is: what was
    shared went with the old messages."""
    with transaction.atomic():
        retired = (
            RetiredThread.objects.select_for_update()
            .filter(thread_id=thread_id, organisation_id=organisation_id)
            .first()
        )
        if retired is None:
            # Another worker may have brought it back a moment ago.
            return EmailThread.objects.filter(pk=thread_id, organisation_id=organisation_id).first()
        thread, _ = EmailThread.objects.get_or_create(
            pk=thread_id,
            defaults={
                "organisation_id": organisation_id,
                "candidate_id": retired.candidate_id,
                "owner_id": retired.owner_id,
                "origin": EmailThread.Origin.THREADLINE,
                "visibility": EmailThread.Visibility.PRIVATE,
            },
        )
        retired.delete()
    return thread
