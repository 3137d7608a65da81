"""The "Import candidate email" action: everything between the clicking user and one
candidate, from the user's own mailbox, whether or not it started in Threadline.

The one exception to default-deny, taken by the user for one candidate. It needs read
access, so under limited sync it is refused with the reason.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from accounts.models import User
from candidates.models import Candidate, EmailThread
from mailsync.ingest import thread_for_references, threads_visible_to
from mailsync.mime import MalformedMessage, ParsedMessage, parse_message, reference_headers
from mailsync.models import MailboxConnection, MailboxThread
from mailsync.providers.base import MessageRef, ProviderError, RawMessage
from mailsync.selectors import messages_already_handled
from mailsync.sync import labels_apply, message_store_guarded
from mailsync.tokens import open_session

logger = logging.getLogger(__name__)


class ImportRefused(Exception):
    """Why the import cannot run; the message is for the user."""


@dataclass
class ImportReport:
    found: int = 0
    stored: int = 0
    threads: int = 0
    skipped: int = 0
    truncated: bool = False


def import_messages(mailbox: MailboxConnection, actor: User, candidate: Candidate) -> ImportReport:
    """Search the mailbox for the candidate's addresses and store what is new, each
    message in its own guard; raises ProviderError when the provider fails."""
    session = open_session(mailbox)
    refs: dict[str, MessageRef] = {}
    for address in candidate.emails.values_list("address", flat=True):
        for ref in session.search_by_address(address):
            refs.setdefault(ref.id, ref)
    report = ImportReport(found=len(refs))
    # Copies already in Threadline (an earlier import, full sync), or skipped before, are
    # not fetched again, so a second click continues where a truncated one stopped.
    known = messages_already_handled(mailbox=mailbox, provider_message_ids=list(refs))
    new = [ref for ref in refs.values() if ref.id not in known]
    limit = settings.MAILSYNC_IMPORT_MAX_MESSAGES
    wanted = new[:limit]
    report.truncated = len(new) > limit
    fetched = session.raw_messages(wanted)
    parsed = {ref_id: _parsed_or_none(message) for ref_id, message in fetched.items()}
    # Oldest first, so that a new thread takes its subject from the conversation's start;
    # Date has one-second resolution, so within a second a reply follows what it answers.
    # What cannot be read sorts last and is recorded as skipped by the guard below.
    wanted.sort(key=lambda ref: _sort_key(parsed.get(ref.id)))
    threads: dict[str, EmailThread] = {}
    imported_ids = []
    for ref in wanted:
        message = fetched.get(ref.id)
        if message is None:
            continue  # deleted since the search
        target, may_write = _thread_for(mailbox, candidate, ref, message, threads)
        stored = message_store_guarded(
            mailbox, ref, message, thread=target, may_write=may_write, parsed=parsed[ref.id]
        )
        if stored is None:
            report.skipped += 1
            continue
        threads[ref.thread_id] = stored.message.thread
        report.stored += stored.created
        imported_ids.append(ref.id)
    report.threads = len({thread.pk for thread in threads.values()})
    if imported_ids:
        try:
            labels_apply(mailbox, session, imported_ids)
        except ProviderError as failure:
            # Still marked unlabelled: the next sync round labels them.
            logger.info("Labelling imported messages deferred: %s", failure)
    return report


def _parsed_or_none(message: RawMessage) -> ParsedMessage | None:
    try:
        return parse_message(message.raw, received_at=message.received_at)
    except MalformedMessage:
        return None


def _sort_key(parsed: ParsedMessage | None) -> tuple[int, datetime, bool]:
    if parsed is None:
        return (1, datetime.max.replace(tzinfo=UTC), True)
    return (0, parsed.sent_at, bool(parsed.in_reply_to))


def _thread_for(
    mailbox: MailboxConnection,
    candidate: Candidate,
    ref: MessageRef,
    message: RawMessage,
    threads: dict[str, EmailThread],
) -> tuple[EmailThread, bool]:
    """The Threadline thread for a mailbox message, and whether the importing user may
    write to it: the one this import already used for its mailbox thread, the one already
    linked, or the one a signed reference names. Anything else (or a thread the user may
    not see) becomes a new private thread of theirs (`may_write` false)."""
    if ref.thread_id in threads:
        return threads[ref.thread_id], True
    linked = (
        MailboxThread.objects.filter(mailbox=mailbox, provider_thread_id=ref.thread_id)
        .select_related("thread")
        .first()
        if ref.thread_id
        else None
    )
    found = linked.thread if linked is not None else None
    if found is None:
        headers: list[str | None]
        try:
            headers = list(reference_headers(message.raw))
        except MalformedMessage:
            headers = []
        referenced = thread_for_references(
            organisation_id=candidate.organisation_id, headers=headers
        )
        if referenced is not None and referenced.candidate_id == candidate.pk:
            found = referenced
    if found is None:
        # A placeholder for "this candidate, not yet a thread": the guard creates the
        # importing user's private thread with the message's subject.
        return EmailThread(candidate=candidate, origin=EmailThread.Origin.IMPORTED), False
    return found, bool(threads_visible_to(mailbox.user, {found.pk}))
