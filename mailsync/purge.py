"""Suspension purge: the mechanics behind `organisation_purge_mailbox_data`.

Everything Threadline holds because of an organisation's mailboxes and calendars goes:
every email thread of the organisation with its messages and attachments (mail sent from
Threadline included: it was sent through, and synced back from, a user's mailbox, and it
is the same kind of content), removal tombstones, the mailbox connections themselves
(tokens, sync cursors, counts such as `messages_synced`, calendar and contacts state),
what hangs off them (mailbox thread ids, synced and skipped message ids, import and
ingestion jobs with their checkpoints), authorizations in flight and compose drafts'
attachments. Candidates, users, postings and the organisation's settings stay, and so do
interviews (Threadline's own scheduling records; they lose the link to the connection
whose calendar held the event). Profile history entries stay: they hold ids and counts,
never mail content (candidates/audit.py).

One entry in the organisation's audit log says that the purge happened, by whom, and how
many rows of each kind went: counts only.
"""

from collections import Counter
from typing import Any

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from accounts.models import IntegrationPermission, Organisation, User
from candidates.models import EmailThread
from mailsync.models import (
    DraftAttachment,
    ImportJob,
    MailboxConnection,
    PendingAuthorization,
    RemovedMessage,
    RetiredThread,
)

# The audit entry's key in `changes`, shown on the company settings page's audit log.
AUDIT_FIELD = "mailbox data"


def mailbox_data_delete(organisation: Organisation) -> dict[str, int]:
    """Delete the organisation's mailbox-derived rows, in the caller's transaction.
    Returns the rows deleted per model label ("candidates.EmailMessage": 12), cascades
    included, so that the counts say what went whichever relation took it."""
    members = User.objects.filter(organisation=organisation)
    counts: Counter[str] = Counter()
    querysets: list[QuerySet[Any]] = [
        RemovedMessage.objects.filter(organisation=organisation),
        # Retention's record of removed threads (ids only, but derived from mailboxes).
        RetiredThread.objects.filter(organisation=organisation),
        # Messages, attachments, mailbox copies and seen marks go with their threads.
        EmailThread.objects.filter(organisation=organisation),
        # Tokens, cursors and counts are columns of the connection; synced and skipped
        # ids, mailbox thread ids, import and ingestion jobs hang off it.
        MailboxConnection.objects.filter(organisation=organisation),
        # Jobs whose connection belonged elsewhere but whose candidate is ours.
        ImportJob.objects.filter(candidate__organisation=organisation),
        PendingAuthorization.objects.filter(user__in=members),
        DraftAttachment.objects.filter(user__in=members),
    ]
    for queryset in querysets:
        _, per_model = queryset.delete()
        counts.update({label: deleted for label, deleted in per_model.items() if deleted})
    # Nothing is connected any more: My account must not say otherwise.
    IntegrationPermission.objects.filter(user__in=members).update(
        enabled=False, state=IntegrationPermission.State.OFF
    )
    return dict(sorted(counts.items()))


def purge_record(
    *, actor: User | None, organisation: Organisation, counts: dict[str, int], via: str
) -> LogEntry:
    """The organisation's audit entry for a purge: who (None from the command line, which
    names itself in `via`), when, and the counts. No content, no addresses."""
    summary = ", ".join(f"{label} {deleted}" for label, deleted in counts.items()) or "nothing"
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Organisation),
        object_pk=str(organisation.pk),
        object_id=organisation.pk,
        object_repr=str(organisation)[:200],
        action=LogEntry.Action.DELETE,
        changes={AUDIT_FIELD: ["kept", f"purged ({summary})"]},
        actor=actor,
        additional_data={"event": "mailbox_data_purged", "via": via, "counts": counts},
    )
