"""The "Import candidate email" action: everything between the clicking user and one
candidate, from the user's own mailbox, whether or not it started in Threadline.

The one exception to default-deny, taken by the user for one candidate. It needs read
access, so under limited sync it is refused with the reason.
"""

import logging
from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from candidates import policy
from candidates.models import Candidate, EmailThread
from mailsync.connections import mark_needs_reauthorization, open_session
from mailsync.ingest import process_message, thread_for_references
from mailsync.mime import MalformedMessage, ParsedMessage, parse_message
from mailsync.models import MailboxConnection, MailboxThread, SyncedMessage
from mailsync.providers.base import MessageRef, ProviderError
from mailsync.selectors import mailbox_for
from mailsync.sync import LIMITED_SYNC_NO_READING, ensure_own_label, reading_allowed

logger = logging.getLogger(__name__)


class ImportRefused(Exception):
    """Why the import cannot run; the message is for the user."""


@dataclass
class ImportReport:
    found: int = 0
    stored: int = 0
    threads: int = 0
    truncated: bool = False


def import_unavailable_reason(connection: MailboxConnection | None) -> str:
    """Why the action is shown disabled to the owner of `connection` (their mailbox, or
    None), or "" when it is available."""
    if connection is None or connection.state != MailboxConnection.State.CONNECTED:
        return "Connect your mailbox under Settings › My account to import email."
    if not reading_allowed(connection):
        return LIMITED_SYNC_NO_READING
    return ""


def candidate_mail_import(*, actor: User, candidate: Candidate) -> ImportReport:
    if not policy.can_edit_candidate(actor, candidate):
        raise ImportRefused("You may not import email for this candidate.")
    connection = mailbox_for(user=actor)
    reason = import_unavailable_reason(connection)
    if reason:
        raise ImportRefused(reason)
    try:
        return _import(connection, actor, candidate)
    except ProviderError as failure:
        if failure.permanent and failure.needs_reauthorization:
            mark_needs_reauthorization(connection, failure)
            raise ImportRefused("Your mailbox needs re-authorization.") from failure
        logger.warning("Import for candidate %s failed: %s", candidate.pk, failure)
        raise ImportRefused("The mail provider did not answer; please try again.") from failure


def _import(connection: MailboxConnection, actor: User, candidate: Candidate) -> ImportReport:
    session = open_session(connection)
    refs: dict[str, MessageRef] = {}
    for address in candidate.emails.values_list("address", flat=True):
        for ref in session.search_by_address(address):
            refs.setdefault(ref.id, ref)
    report = ImportReport(found=len(refs))
    # Copies already in Threadline (an earlier import, full sync) are not fetched again,
    # so a second click continues where a truncated one stopped.
    known = set(
        SyncedMessage.objects.filter(
            mailbox=connection, provider_message_id__in=list(refs)
        ).values_list("provider_message_id", flat=True)
    )
    new = [ref for ref in refs.values() if ref.id not in known]
    limit = settings.MAILSYNC_IMPORT_MAX_MESSAGES
    wanted = new[:limit]
    report.truncated = len(new) > limit
    raws = session.raw_messages([ref.id for ref in wanted])
    readable = []
    for ref in wanted:
        try:
            readable.append((ref, parse_message(raws[ref.id])))
        except KeyError:
            continue  # deleted since the search
        except MalformedMessage as error:
            logger.info("Skipping unreadable message %s: %s", ref.id, error)
    # Oldest first, so that a new thread takes its subject from the conversation's start;
    # Date has one-second resolution, so within a second a reply follows what it answers.
    readable.sort(key=lambda pair: (pair[1].sent_at, bool(pair[1].in_reply_to)))
    threads: dict[str, EmailThread] = {}
    imported_ids = []
    for ref, parsed in readable:
        if ref.thread_id not in threads:
            threads[ref.thread_id] = _thread_for(connection, actor, candidate, ref, parsed)
        thread = threads[ref.thread_id]
        stored = process_message(
            thread=thread,
            parsed=parsed,
            mailbox=connection,
            provider_message_id=ref.id,
            provider_thread_id=ref.thread_id,
        )
        report.stored += stored.created
        imported_ids.append(ref.id)
    report.threads = len({thread.pk for thread in threads.values()})
    if imported_ids:
        try:
            session.apply_label(ensure_own_label(connection, session), imported_ids)
        except ProviderError as failure:
            logger.info("Labelling imported messages deferred: %s", failure)
    return report


def _thread_for(
    connection: MailboxConnection,
    actor: User,
    candidate: Candidate,
    ref: MessageRef,
    parsed: ParsedMessage,
) -> EmailThread:
    """The Threadline thread for a mailbox thread: one already linked, the one a signed
    reference names, or a new private thread of the importing user."""
    if ref.thread_id:
        linked = (
            MailboxThread.objects.filter(mailbox=connection, provider_thread_id=ref.thread_id)
            .select_related("thread")
            .first()
        )
        if linked is not None:
            return linked.thread
    referenced = thread_for_references(
        organisation_id=candidate.organisation_id, headers=list(parsed.reference_headers)
    )
    if referenced is not None and referenced.candidate_id == candidate.pk:
        return referenced
    return EmailThread.objects.create(
        organisation_id=candidate.organisation_id,
        candidate=candidate,
        owner=actor,
        subject=parsed.subject[:998],
    )
