"""Add a thread from my mailbox: the user searches their own mailbox through the provider,
reads one conversation if they want to, and brings it into Threadline on a candidate.

What a search shows is headers only (the providers are asked for nothing more); a thread
opened to read is fetched for that page and not kept. Only attaching stores anything:
the thread's messages go into a new private thread of the user, and the provider thread
is linked (`MailboxThread`), so that the regular sync brings its later messages too.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from accounts.models import User
from candidates import policy
from candidates.models import Candidate, EmailThread
from mailsync.mime import MalformedMessage, ParsedMessage, parse_message
from mailsync.models import MailboxConnection, MailboxThread
from mailsync.policy import mailbox_status
from mailsync.providers.base import (
    MessageRef,
    ProviderError,
    RawMessage,
    ThreadSummary,
)
from mailsync.selectors import mailbox_for
from mailsync.sync import labels_apply, message_store_guarded
from mailsync.tokens import mark_needs_reauthorization, open_session

logger = logging.getLogger(__name__)
SEARCH_LIMIT = 20
SKIPPED_LABELS = {"DRAFT"}


class MailboxThreadRefused(Exception):
    """Why a search, a read or an attach cannot be done; the message is for the user, and
    `field` names the form field at fault, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AlreadyInThreadline(MailboxThreadRefused):
    """The conversation is already on a profile; `thread` when the user may see it."""

    def __init__(self, thread: EmailThread | None) -> None:
        super().__init__("This conversation is already in Threadline.")
        self.thread = thread


@dataclass(frozen=True)
class Found:
    """A search result: the provider's headers, and where Threadline already has it."""

    summary: ThreadSummary
    in_threadline: EmailThread | None
    linked: bool
    # The people on it other than the mailbox's owner: who the conversation is with.
    others: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FetchedThread:
    """A conversation read whole from the mailbox (oldest first), for the page only."""

    summary: ThreadSummary
    messages: list[tuple[MessageRef, RawMessage, ParsedMessage | None]]


def readable_mailbox(user: User) -> MailboxConnection:
    """The user's mailbox if Threadline may read it now; otherwise the reason, refused."""
    mailbox = mailbox_for(user=user)
    status = mailbox_status(mailbox)
    if not status.may_read:
        raise MailboxThreadRefused(status.why_not_read)
    assert mailbox is not None  # may_read: mailbox_status found a connected mailbox
    return mailbox


def provider_refusal(mailbox: MailboxConnection, failure: ProviderError) -> MailboxThreadRefused:
    """A provider failure as the user hears it; a revoked grant is recorded on the row."""
    if failure.permanent and failure.needs_reauthorization:
        mark_needs_reauthorization(mailbox, failure)
        return MailboxThreadRefused("Your mailbox needs re-authorization.")
    logger.warning("Mailbox %s: thread search or fetch failed: %s", mailbox.pk, failure)
    return MailboxThreadRefused("The mail provider did not answer; please try again.")


def threads_search(user: User, text: str) -> list[Found]:
    text = " ".join(text.split())
    if not text:
        return []
    mailbox = readable_mailbox(user)
    try:
        summaries = open_session(mailbox).search_threads(text, limit=SEARCH_LIMIT)
    except ProviderError as failure:
        raise provider_refusal(mailbox, failure) from failure
    known = threads_in_threadline(user, mailbox, [s.id for s in summaries])
    return [
        Found(
            summary=s,
            in_threadline=known.get(s.id),
            linked=s.id in known,
            others=people_other_than(s, mailbox.account_address),
        )
        for s in summaries
    ]


def people_other_than(summary: ThreadSummary, own_address: str) -> tuple[tuple[str, str], ...]:
    """The conversation's people, the mailbox's owner left out."""
    return tuple(
        (name, address) for name, address in summary.participants if address != own_address.lower()
    )


def threads_in_threadline(
    user: User, mailbox: MailboxConnection, provider_thread_ids: list[str]
) -> dict[str, EmailThread | None]:
    """Which of these provider threads are linked already, with the Threadline thread when
    `user` may see it (None otherwise: it exists, and nothing more is said)."""
    links = dict(
        MailboxThread.objects.filter(
            mailbox=mailbox, provider_thread_id__in=provider_thread_ids
        ).values_list("provider_thread_id", "thread_id")
    )
    visible = policy.visible_threads(user).filter(pk__in=set(links.values()))
    threads = {thread.pk: thread for thread in visible.select_related("candidate")}
    return {provider_id: threads.get(thread_id) for provider_id, thread_id in links.items()}


def thread_summary(user: User, provider_thread_id: str) -> ThreadSummary:
    """One conversation's headers, as the attach page shows them."""
    mailbox = readable_mailbox(user)
    try:
        summary = open_session(mailbox).thread_summary(provider_thread_id)
    except ProviderError as failure:
        raise provider_refusal(mailbox, failure) from failure
    if summary is None:
        raise MailboxThreadRefused("Your mailbox no longer holds this conversation.")
    return summary


def thread_fetch(user: User, provider_thread_id: str) -> FetchedThread:
    """The whole conversation, fetched now for this user's eyes."""
    return thread_fetch_from(readable_mailbox(user), provider_thread_id)


def thread_fetch_from(mailbox: MailboxConnection, provider_thread_id: str) -> FetchedThread:
    session = open_session(mailbox)
    try:
        summary = session.thread_summary(provider_thread_id)
        refs = [
            ref
            for ref in session.thread_messages(provider_thread_id)
            if not SKIPPED_LABELS.intersection(ref.labels)
        ]
        fetched = session.raw_messages(refs)
    except ProviderError as failure:
        raise provider_refusal(mailbox, failure) from failure
    if summary is None or not fetched:
        raise MailboxThreadRefused("Your mailbox no longer holds this conversation.")
    messages = [
        (ref, fetched[ref.id], _parsed(fetched[ref.id])) for ref in refs if ref.id in fetched
    ]
    # Oldest first, so the new thread takes its subject from the conversation's start;
    # Date has one-second resolution, so within a second a reply follows what it answers.
    # What cannot be read sorts last (and is recorded as skipped if attached).
    unreadable_last = (datetime.max.replace(tzinfo=UTC), True)
    messages.sort(
        key=lambda item: (
            (item[2].sent_at, bool(item[2].in_reply_to)) if item[2] else unreadable_last
        )
    )
    return FetchedThread(summary=summary, messages=messages)


def _parsed(message: RawMessage) -> ParsedMessage | None:
    try:
        return parse_message(message.raw, received_at=message.received_at)
    except MalformedMessage:
        return None


@dataclass(frozen=True)
class Attached:
    thread: EmailThread
    stored: int
    skipped: int


def thread_import(
    mailbox: MailboxConnection, fetched: FetchedThread, candidate: Candidate
) -> Attached:
    """Store the fetched conversation in a new private thread of the mailbox's owner on
    `candidate`, each message through the one import path. The caller holds the
    transaction; a message that cannot be stored is recorded as skipped."""
    thread = EmailThread(candidate=candidate, origin=EmailThread.Origin.IMPORTED)
    may_write, stored, skipped = False, 0, 0
    for ref, message, parsed in fetched.messages:
        result = message_store_guarded(
            mailbox, ref, message, thread=thread, may_write=may_write, parsed=parsed
        )
        if result is None:
            skipped += 1
            continue
        # The first message created the private thread; the rest follow it there.
        thread, may_write = result.message.thread, True
        stored += result.created
    if not may_write:
        raise MailboxThreadRefused("None of this conversation's messages could be read.")
    return Attached(thread=thread, stored=stored, skipped=skipped)


def label_attached(mailbox: MailboxConnection, fetched: FetchedThread) -> None:
    """Our label on the attached messages, after commit; what fails, the next sync does."""
    try:
        labels_apply(mailbox, open_session(mailbox), [ref.id for ref, _, _ in fetched.messages])
    except ProviderError as failure:
        logger.info("Labelling an attached thread deferred: %s", failure)
