"""Full sync of one mailbox: default-deny, incremental from the provider's cursor.

For each new message the provider reports:
1. its provider thread is a known Threadline thread → of interest, no further call;
2. otherwise one batched headers-only fetch of the four reference headers; a validly
   signed reference → of interest; anything else is dropped and nothing of it is kept;
3. only messages of interest are fetched whole, parsed and stored.
The cursor advances only after everything it covers is committed, so a crash at any
point is followed by a run that redoes the missing work and skips what is stored.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Organisation
from mailsync.connections import mark_needs_reauthorization, open_session
from mailsync.ingest import process_message, thread_for_references
from mailsync.mime import MalformedMessage, parse_message
from mailsync.models import MailboxConnection, MailboxThread, SyncedMessage
from mailsync.providers.base import CursorExpired, MailboxSession, MessageRef, ProviderError

logger = logging.getLogger(__name__)
SKIPPED_LABELS = {"DRAFT"}


@dataclass
class SyncReport:
    status: str = "ok"  # ok | busy | not_connected | send_only | failed
    seen: int = 0
    of_interest: int = 0
    stored: int = 0
    header_checks: int = 0
    recovered: bool = False
    error: str = ""
    stored_ids: list[int] = field(default_factory=list)


# --- the lease --------------------------------------------------------------------------


def _claim(connection_id: int) -> str | None:
    """Take the mailbox for this run with a conditional update; None if another worker
    holds an unexpired lease. A crashed worker's lease simply runs out."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = MailboxConnection.objects.filter(
        Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lt=now), pk=connection_id
    ).update(
        sync_claimed_until=now + timedelta(seconds=settings.MAILSYNC_LEASE_SECONDS),
        sync_claim=token,
    )
    return token if taken else None


def _release(connection_id: int, token: str) -> None:
    MailboxConnection.objects.filter(pk=connection_id, sync_claim=token).update(
        sync_claimed_until=None, sync_claim=""
    )


# --- the run ----------------------------------------------------------------------------


def mailbox_sync(*, connection_id: int) -> SyncReport:
    token = _claim(connection_id)
    if token is None:
        return SyncReport(status="busy")
    try:
        connection = MailboxConnection.objects.select_related("user", "organisation").get(
            pk=connection_id
        )
        if connection.state != MailboxConnection.State.CONNECTED:
            return SyncReport(status="not_connected")
        if not reading_allowed(connection):
            # Limited sync: replies arrive through the organisation's routing instead.
            return SyncReport(status="send_only")
        return _run(connection)
    finally:
        _release(connection_id, token)


LIMITED_SYNC_NO_READING = (
    "Your organisation uses limited sync: Threadline has no permission to read mailboxes, "
    "so replies reach profiles through your mail admin's routing rule instead."
)


def reading_allowed(connection: MailboxConnection) -> bool:
    """Both the tokens and the organisation's current level must allow reading."""
    full = Organisation.SyncLevel.FULL
    return connection.sync_level == full and connection.organisation.email_sync_level == full


def _run(connection: MailboxConnection) -> SyncReport:
    report = SyncReport()
    session = open_session(connection)
    try:
        if not connection.cursor:
            # Connections get their cursor when authorized; this is only a safety net.
            cursor = session.current_cursor()
        else:
            try:
                cursor = _apply_changes(connection, session, report)
            except CursorExpired:
                cursor = _recover(connection, session, report)
    except ProviderError as failure:
        return _record_failure(connection, failure, report)
    MailboxConnection.objects.filter(pk=connection.pk).update(
        cursor=cursor,
        last_synced_at=timezone.now(),
        messages_synced=F("messages_synced") + report.stored,
        last_error="",
        last_error_at=None,
    )
    return report


def _record_failure(
    connection: MailboxConnection, failure: ProviderError, report: SyncReport
) -> SyncReport:
    report.status, report.error = "failed", str(failure)
    if failure.permanent and failure.needs_reauthorization:
        mark_needs_reauthorization(connection, failure)
    else:
        reason = (
            "The provider is busy; will try again next round."
            if not failure.permanent
            else f"Sync stopped: {failure}"[:500]
        )
        MailboxConnection.objects.filter(pk=connection.pk).update(
            last_error=reason, last_error_at=timezone.now()
        )
    logger.warning("Sync of mailbox %s failed: %s", connection.pk, failure)
    return report


def _apply_changes(
    connection: MailboxConnection, session: MailboxSession, report: SyncReport
) -> str:
    cursor = connection.cursor
    for page in session.changes_since(connection.cursor):
        _handle(connection, session, page.added, report)
        cursor = page.cursor or cursor
    return cursor


def _recover(connection: MailboxConnection, session: MailboxSession, report: SyncReport) -> str:
    """The cursor is older than the provider's history. Take a new cursor first (so that
    nothing arriving meanwhile is missed), then re-list the threads we know, newest first,
    up to a bound."""
    report.recovered = True
    cursor = session.current_cursor()
    known = (
        MailboxThread.objects.filter(mailbox=connection)
        .order_by("-thread__last_message_at")
        .values_list("provider_thread_id", flat=True)[: settings.MAILSYNC_RECOVERY_MAX_THREADS]
    )
    for provider_thread_id in known:
        _handle(connection, session, session.thread_messages(provider_thread_id), report)
    return cursor


def _handle(
    connection: MailboxConnection,
    session: MailboxSession,
    refs: list[MessageRef],
    report: SyncReport,
) -> None:
    refs = [ref for ref in refs if not SKIPPED_LABELS.intersection(ref.labels)]
    report.seen += len(refs)
    if not refs:
        return
    already = set(
        SyncedMessage.objects.filter(
            mailbox=connection, provider_message_id__in=[r.id for r in refs]
        ).values_list("provider_message_id", flat=True)
    )
    refs = [ref for ref in refs if ref.id not in already]
    known_threads = dict(
        MailboxThread.objects.filter(
            mailbox=connection, provider_thread_id__in={r.thread_id for r in refs}
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
                organisation_id=connection.organisation_id,
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
        _store(connection, session, refs, interest, report)


def _store(
    connection: MailboxConnection,
    session: MailboxSession,
    refs: list[MessageRef],
    interest: dict,
    report: SyncReport,
) -> None:
    from candidates.models import EmailThread

    threads = EmailThread.objects.in_bulk(set(interest.values()))
    thread_of_ref = {ref.id: ref.thread_id for ref in refs}
    for message_id, raw in session.raw_messages(list(interest)).items():
        try:
            parsed = parse_message(raw)
        except MalformedMessage as problem:
            logger.warning("Mailbox %s: unreadable message skipped: %s", connection.pk, problem)
            continue
        stored = process_message(
            thread=threads[interest[message_id]],
            parsed=parsed,
            mailbox=connection,
            provider_message_id=message_id,
            provider_thread_id=thread_of_ref[message_id],
        )
        if stored.created:
            report.stored += 1
            report.stored_ids.append(stored.message.pk)
    _label_pending(connection, session)


def _label_pending(connection: MailboxConnection, session: MailboxSession) -> None:
    """Put our label on every stored copy still without it, including copies a crashed
    run stored but did not get to label."""
    pending = list(
        SyncedMessage.objects.filter(mailbox=connection, labelled=False).values_list(
            "provider_message_id", flat=True
        )[:1000]
    )
    if pending:
        session.apply_label(ensure_own_label(connection, session), pending)
        SyncedMessage.objects.filter(mailbox=connection, provider_message_id__in=pending).update(
            labelled=True
        )


def ensure_own_label(connection: MailboxConnection, session: MailboxSession) -> str:
    if not connection.label_id:
        connection.label_id = session.ensure_label(settings.MAILSYNC_LABEL_NAME)
        MailboxConnection.objects.filter(pk=connection.pk).update(label_id=connection.label_id)
    return connection.label_id
