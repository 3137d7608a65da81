"""Deletion sync: a message deleted in the user's mailbox leaves Threadline.

Decided per mailbox, never per folder: sync hands over only ids the provider confirmed
gone from the whole mailbox (`MailboxSession.messages_gone`), so a message moved to
another folder or archived is kept.

What goes, and why:
- this mailbox's copy record (SyncedMessage), always: the mailbox no longer holds it;
- the message itself (with its attachments) only when no other mailbox still holds a
  copy of it: a colleague's copy of the same email is still in their mailbox, and their
  deleting it is theirs to do. A message sent from Threadline or routed to it is kept
  while any mailbox holds it, and goes with the last copy: the mailbox is the source of
  truth for mail, and what reached Threadline another way is the same email;
- the thread, when its last message goes; otherwise its activity is worked out again
  from the messages left.

No tombstone is written: "Remove from Threadline" (mailsync.removal) keeps mail out for
good, a deletion does not. A deleted message that comes back (restored from Trash or
Deleted Items) is treated as new mail: it returns when sync finds it of interest again.
The audit entry says that the owner's mailbox deletion removed it, with counts only.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from candidates import audit
from candidates.models import EmailMessage, EmailThread
from mailsync.ingest import activity_recompute
from mailsync.models import MailboxConnection, SyncedMessage
from mailsync.removal import thread_locked


@dataclass(frozen=True)
class Deleted:
    """What a deletion in a mailbox removed: copy records, messages and threads."""

    copies: int = 0
    messages: int = 0
    threads: int = 0


def mailbox_deletions_apply(
    *, mailbox: MailboxConnection, provider_message_ids: list[str]
) -> Deleted:
    """These messages were deleted from `mailbox` at the provider: forget this mailbox's
    copies of them, and remove each message no other mailbox holds, its thread with the
    last one. Ids Threadline never stored change nothing. Safe to run again (the copies
    are gone the second time), in one transaction."""
    with transaction.atomic():
        copies = SyncedMessage.objects.filter(
            mailbox=mailbox, provider_message_id__in=provider_message_ids
        )
        message_ids = set(copies.values_list("message_id", flat=True))
        copies_deleted, _ = copies.delete()
        if not message_ids:
            return Deleted(copies=copies_deleted)
        still_held = set(
            SyncedMessage.objects.filter(message_id__in=message_ids).values_list(
                "message_id", flat=True
            )
        )
        by_thread: dict[uuid.UUID, list[int]] = defaultdict(list)
        for pk, thread_id in EmailMessage.objects.filter(
            pk__in=message_ids - still_held
        ).values_list("pk", "thread_id"):
            by_thread[thread_id].append(pk)
        messages = threads = 0
        for thread in EmailThread.objects.filter(pk__in=list(by_thread)).order_by("pk"):
            removed, thread_went = _thread_messages_delete(mailbox, thread, by_thread[thread.pk])
            messages += removed
            threads += int(thread_went)
    return Deleted(copies=copies_deleted, messages=messages, threads=threads)


def _thread_messages_delete(
    mailbox: MailboxConnection, thread: EmailThread, message_ids: list[int]
) -> tuple[int, bool]:
    if thread_locked(thread) is None:
        return 0, False  # removed a moment ago
    doomed = EmailMessage.objects.filter(thread=thread, pk__in=message_ids)
    count = doomed.count()
    if not count:
        return 0, False
    thread_goes = not thread.messages.exclude(pk__in=message_ids).exists()
    # The thread's owner can read why mail left their candidate's profile; the entry holds
    # ids and counts, never content.
    audit.record(
        actor=mailbox.user,
        event=audit.Event.DELETED_IN_MAILBOX,
        candidate_id=thread.candidate_id,
        about=thread,
        counts={"messages": count, "threads": int(thread_goes)},
    )
    if thread_goes:
        thread.delete()  # its messages and their attachments go with it
    else:
        doomed.delete()  # attachments cascade
        activity_recompute(thread)
    return count, thread_goes
