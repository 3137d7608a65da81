"""Full sync of one mailbox: default-deny, incremental from the provider's cursor.

For each new message the provider reports:
1. its provider thread is a known Threadline thread → of interest, no further call;
2. otherwise one batched headers-only fetch of the four reference headers; a validly
   signed reference → of interest; anything else is dropped and nothing of it is kept;
3. only messages of interest are fetched whole, parsed and stored.
Messages removed from Threadline are left out at step 1 by their provider id, and, when
another copy of one turns up, where it is stored (by its Message-ID).
Messages the provider reports deleted are looked up among this mailbox's stored copies
first; only those are checked with the provider (mailsync.deletion says what goes).
The cursor advances only after everything it covers is committed, so a crash at any
point is followed by a run that redoes the missing work and skips what is stored.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from candidates.models import EmailThread
from mailsync.deletion import mailbox_deletions_apply
from mailsync.ingest import (
    MessageRemoved,
    Stored,
    message_store,
    private_thread_for,
    thread_for_references,
    threads_visible_to,
)
from mailsync.mime import MalformedMessage, ParsedMessage, parse_message
from mailsync.models import MailboxConnection, MailboxThread, SkippedMessage, SyncedMessage
from mailsync.policy import may_label
from mailsync.providers.base import (
    CursorExpired,
    MailboxSession,
    MessageRef,
    ProviderError,
    RawMessage,
)
from mailsync.removal import tombstone_copy
from mailsync.retention import retention_cutoff
from mailsync.selectors import messages_already_handled
from mailsync.tokens import mark_needs_reauthorization, open_session

logger = logging.getLogger(__name__)
SKIPPED_LABELS = {"DRAFT"}
# Ids per database lookup (SQLite allows 999 query parameters in older builds).
DELETION_CHUNK = 500


@dataclass
class SyncReport:
    status: str = "ok"  # ok | busy | not_connected | send_only | throttled | failed
    seen: int = 0
    of_interest: int = 0
    stored: int = 0
    header_checks: int = 0
    skipped: int = 0
    # Copies of messages removed from Threadline, seen again and left out.
    removed: int = 0
    # Messages deleted in the mailbox that left Threadline (and the threads with them).
    deleted: int = 0
    threads_deleted: int = 0
    # Listed, but older than the organisation's retention period: left unread.
    past_retention: int = 0
    recovered: bool = False
    # The round read MAILSYNC_ROUND_MAX_MESSAGES and saved its place: more changes wait.
    more: bool = False
    error: str = ""
    stored_ids: list[int] = field(default_factory=list)


# --- the run ----------------------------------------------------------------------------


def sync_round(mailbox: MailboxConnection) -> SyncReport:
    """One round: the changes since the cursor (or a bounded recovery), each message of
    interest stored, pending labels written, then the cursor moved. Provider failures are
    recorded on the mailbox's row and reported, never raised."""
    report = SyncReport()
    session = open_session(mailbox)
    try:
        if not mailbox.cursor:
            # Connections get their cursor when authorized, so no cursor means an admin
            # reset it (Sync health): re-read the threads we know, as for an expired one,
            # so that nothing between the old cursor and now is lost.
            cursor = _recover(mailbox, session, report)
        else:
            try:
                cursor = _apply_changes(mailbox, session, report)
            except CursorExpired:
                cursor = _recover(mailbox, session, report)
        _label_pending(mailbox, session)
    except ProviderError as failure:
        return _record_failure(mailbox, failure, report)
    MailboxConnection.objects.filter(pk=mailbox.pk).update(
        cursor=cursor,
        last_synced_at=timezone.now(),
        messages_synced=F("messages_synced") + report.stored,
        last_error="",
        last_error_at=None,
        failing_since=None,
        throttled_until=None,
    )
    return report


def _record_failure(
    mailbox: MailboxConnection, failure: ProviderError, report: SyncReport
) -> SyncReport:
    report.status, report.error = "failed", str(failure)
    now = timezone.now()
    if failure.permanent and failure.needs_reauthorization:
        mark_needs_reauthorization(mailbox, failure)
    else:
        throttled_until = _throttled_until(failure, now)
        if throttled_until is not None:
            reason = "The provider asked Threadline to slow down; sync resumes when it allows."
        elif not failure.permanent:
            reason = "The provider is busy; will try again next round."
        else:
            reason = f"Sync stopped: {failure}"[:500]
        MailboxConnection.objects.filter(pk=mailbox.pk).update(
            last_error=reason,
            last_error_at=now,
            throttled_until=throttled_until,
        )
    record_round_failed(mailbox.pk, now)
    logger.warning("Sync of mailbox %s failed: %s", mailbox.pk, failure)
    return report


def _throttled_until(failure: ProviderError, now: datetime) -> datetime | None:
    """When a throttled mailbox (429) may be asked again: the provider's Retry-After, or
    one sync interval when it named none. None for other failures, 503s with a
    Retry-After included: those are outages, which the next round simply tries again."""
    if failure.permanent or failure.status != 429:
        return None
    wait = failure.retry_after or settings.MAILSYNC_INTERVAL_SECONDS
    return now + timedelta(seconds=wait)


def record_round_failed(mailbox_id: int, now: datetime) -> None:
    """Date the first of a run of failed rounds (kept until a round succeeds)."""
    MailboxConnection.objects.filter(pk=mailbox_id, failing_since__isnull=True).update(
        failing_since=now
    )


def _apply_changes(mailbox: MailboxConnection, session: MailboxSession, report: SyncReport) -> str:
    cursor = mailbox.cursor
    for page in session.changes_since(mailbox.cursor):
        _handle(mailbox, session, page.added, report)
        _apply_deletions(mailbox, session, page.deleted, report)
        cursor = page.cursor or cursor
        if not page.last and page.cursor and report.seen >= settings.MAILSYNC_ROUND_MAX_MESSAGES:
            # Enough for one round: the rest waits behind the other mailboxes' rounds.
            report.more = True
            break
    return cursor


def _apply_deletions(
    mailbox: MailboxConnection, session: MailboxSession, ids: list[str], report: SyncReport
) -> None:
    """After the page's additions: the deletions it reports, for copies this mailbox
    stored. Ids Threadline never stored are dropped here, before any provider call."""
    stored: list[str] = []
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), DELETION_CHUNK):
        stored += SyncedMessage.objects.filter(
            mailbox=mailbox, provider_message_id__in=unique[start : start + DELETION_CHUNK]
        ).values_list("provider_message_id", flat=True)
    if not stored:
        return
    gone = session.messages_gone(stored)
    if gone:
        deleted = mailbox_deletions_apply(mailbox=mailbox, provider_message_ids=sorted(gone))
        report.deleted += deleted.messages
        report.threads_deleted += deleted.threads


def _recover(mailbox: MailboxConnection, session: MailboxSession, report: SyncReport) -> str:
    """The cursor is older than the provider's history. Take a new cursor first (so that
    nothing arriving meanwhile is missed), then re-list the threads we know, newest first,
    up to a bound; what those threads no longer hold may have been deleted meanwhile."""
    report.recovered = True
    cursor = session.current_cursor()
    known = (
        MailboxThread.objects.filter(mailbox=mailbox)
        .order_by("-thread__last_message_at")
        .values_list("provider_thread_id", flat=True)[: settings.MAILSYNC_RECOVERY_MAX_THREADS]
    )
    listed: set[str] = set()
    relisted: set[str] = set()
    for provider_thread_id in known:
        refs = session.thread_messages(provider_thread_id)
        listed.update(ref.id for ref in refs)
        relisted.add(provider_thread_id)
        _handle(mailbox, session, refs, report)
    _deletions_missed(mailbox, session, relisted=relisted, listed=listed, report=report)
    return cursor


def _deletions_missed(
    mailbox: MailboxConnection,
    session: MailboxSession,
    *,
    relisted: set[str],
    listed: set[str],
    report: SyncReport,
) -> None:
    """The deletions an expired cursor hid: copies stored on threads whose every provider
    thread was just listed again, which no listing holds any more. Each is still asked
    about by id before anything goes (a listing is not proof of a deletion)."""
    by_thread: dict[uuid.UUID, set[str]] = {}
    for thread_id, provider_thread_id in MailboxThread.objects.filter(mailbox=mailbox).values_list(
        "thread_id", "provider_thread_id"
    ):
        by_thread.setdefault(thread_id, set()).add(provider_thread_id)
    complete = [thread for thread, ids in by_thread.items() if ids <= relisted]
    absent = [
        provider_message_id
        for provider_message_id in SyncedMessage.objects.filter(
            mailbox=mailbox, message__thread_id__in=complete
        ).values_list("provider_message_id", flat=True)
        if provider_message_id not in listed
    ]
    _apply_deletions(mailbox, session, absent, report)


def _handle(
    mailbox: MailboxConnection,
    session: MailboxSession,
    refs: list[MessageRef],
    report: SyncReport,
) -> None:
    refs = [ref for ref in refs if not SKIPPED_LABELS.intersection(ref.labels)]
    report.seen += len(refs)
    if not refs:
        return
    done = messages_already_handled(mailbox=mailbox, provider_message_ids=[r.id for r in refs])
    refs = [ref for ref in refs if ref.id not in done]
    # Mail older than the retention period is not read: retention removed it already, or
    # would at its next run. So a conversation that goes on after retention removed it
    # brings in only its new messages, even where the provider lists old ones again (a
    # Graph delta reports a message read or categorised; a recovery lists whole threads).
    oldest = retention_cutoff(months=mailbox.organisation.retention_months, now=timezone.now())
    past = [ref for ref in refs if ref.received_at is not None and ref.received_at < oldest]
    if past:
        report.past_retention += len(past)
        refs = [ref for ref in refs if ref.received_at is None or ref.received_at >= oldest]
    known_threads = dict(
        MailboxThread.objects.filter(
            mailbox=mailbox, provider_thread_id__in={r.thread_id for r in refs}
        ).values_list("provider_thread_id", "thread_id")
    )
    interest = {
        ref.id: known_threads[ref.thread_id] for ref in refs if ref.thread_id in known_threads
    }
    unknown = [ref.id for ref in refs if ref.thread_id not in known_threads]
    if unknown:
        report.header_checks += len(unknown)
        for message_id, headers in session.reference_headers(unknown).items():
            thread = thread_for_references(
                organisation_id=mailbox.organisation_id,
                headers=[
                    headers.get("x-threadline-ref"),
                    headers.get("in-reply-to"),
                    headers.get("references"),
                    headers.get("message-id"),
                ],
            )
            if thread is not None:
                interest[message_id] = thread.pk
    report.of_interest += len(interest)
    if interest:
        _store(mailbox, session, [ref for ref in refs if ref.id in interest], interest, report)


def _store(
    mailbox: MailboxConnection,
    session: MailboxSession,
    refs: list[MessageRef],
    interest: dict[str, uuid.UUID],
    report: SyncReport,
) -> None:
    threads = EmailThread.objects.in_bulk(set(interest.values()))
    writable = threads_visible_to(mailbox.user, set(threads))
    # Private threads of the owner for mail citing threads they may not see, one per
    # provider thread, so that the rest of that conversation follows it there.
    diverted: dict[str, EmailThread] = {}
    fetched = session.raw_messages(refs)
    for ref in refs:
        message = fetched.get(ref.id)
        if message is None:
            continue  # deleted since it was listed
        thread = threads[interest[ref.id]]
        may_write = thread.pk in writable
        if not may_write and ref.thread_id in diverted:
            thread, may_write = diverted[ref.thread_id], True
        try:
            stored = message_store_guarded(
                mailbox, ref, message, thread=thread, may_write=may_write
            )
        except MessageRemoved:
            report.removed += 1
            continue
        if stored is None:
            report.skipped += 1
            continue
        if not may_write:
            diverted[ref.thread_id] = stored.message.thread
        if stored.created:
            report.stored += 1
            report.stored_ids.append(stored.message.pk)


def message_store_guarded(
    mailbox: MailboxConnection,
    ref: MessageRef,
    fetched: RawMessage,
    *,
    thread: EmailThread,
    may_write: bool,
    parsed: ParsedMessage | None = None,
) -> Stored | None:
    """Parse and store one provider message inside its own guard: a message that cannot be
    read or stored is recorded as skipped (its id and why, never its content) and None is
    returned, so that it blocks neither the messages after it nor later rounds. Mail for a
    thread the owner may not see (`may_write` false) goes to a new private thread of theirs
    on the same candidate, so nothing is lost and nothing leaks. `parsed`: the message
    already parsed by the caller, if it was.

    A copy of a message removed from Threadline raises MessageRemoved, after its provider
    id is tombstoned too (so that it is not fetched again): handled, not skipped."""
    try:
        with transaction.atomic():
            if parsed is None:
                parsed = parse_message(fetched.raw, received_at=fetched.received_at)
            if not may_write:
                thread = private_thread_for(
                    owner=mailbox.user, candidate_id=thread.candidate_id, subject=parsed.subject
                )
            return message_store(
                thread=thread,
                parsed=parsed,
                # Only the provider's word that the owner sent it makes them its author.
                author=mailbox.user if fetched.sent else None,
                mailbox=mailbox,
                provider_message_id=ref.id,
                provider_thread_id=ref.thread_id,
            )
    except MessageRemoved as removed:
        tombstone_copy(tombstone=removed.tombstone, mailbox=mailbox, provider_message_id=ref.id)
        raise
    except (OperationalError, InterfaceError):
        raise  # the database, not the message: the round fails and is tried again whole
    except Exception as problem:  # a stranger's mail: whatever it raises, skip just it
        message_skipped(mailbox, ref.id, problem)
        return None


def message_skipped(
    mailbox: MailboxConnection, provider_message_id: str, problem: Exception
) -> None:
    """Record a message that could not be read or stored: its id and why, never its
    content, so that it blocks neither the messages after it nor later rounds."""
    reason = (
        "The message could not be read."
        if isinstance(problem, MalformedMessage)
        else f"The message could not be stored ({type(problem).__name__})."
    )
    logger.warning(
        "Mailbox %s: message %s skipped: %s",
        mailbox.pk,
        provider_message_id,
        type(problem).__name__,
    )
    SkippedMessage.objects.get_or_create(
        mailbox=mailbox, provider_message_id=provider_message_id[:500], defaults={"reason": reason}
    )


def _label_pending(mailbox: MailboxConnection, session: MailboxSession) -> None:
    """Put our label on every stored copy still without it, including copies a crashed
    run stored but did not get to label. Runs every round; a label that cannot be written
    now stays pending for the next one."""
    if not may_label(mailbox):
        return
    pending = list(
        SyncedMessage.objects.filter(mailbox=mailbox, labelled=False).values_list(
            "provider_message_id", flat=True
        )[:1000]
    )
    if not pending:
        return
    try:
        labels_apply(mailbox, session, pending)
    except ProviderError as failure:
        if failure.permanent and failure.needs_reauthorization:
            raise
        logger.info("Mailbox %s: labelling deferred: %s", mailbox.pk, failure)


def labels_apply(
    mailbox: MailboxConnection, session: MailboxSession, provider_message_ids: list[str]
) -> None:
    """Our label on these stored copies, in one provider write, and marked as labelled
    once it is there. Raises ProviderError; whatever stays unlabelled, the next sync round
    labels. View only's read-only tokens label nothing: the copies stay pending, for the
    day the organisation raises the level and the user re-authorizes."""
    if not may_label(mailbox):
        return
    session.apply_label(ensure_own_label(mailbox, session), provider_message_ids)
    SyncedMessage.objects.filter(
        mailbox=mailbox, provider_message_id__in=provider_message_ids
    ).update(labelled=True)


def ensure_own_label(mailbox: MailboxConnection, session: MailboxSession) -> str:
    if not mailbox.label_id:
        mailbox.label_id = session.ensure_label(settings.MAILSYNC_LABEL_NAME)
        MailboxConnection.objects.filter(pk=mailbox.pk).update(label_id=mailbox.label_id)
    return mailbox.label_id
