"""The "Import candidate email" job's work: everything between the job's user and one
candidate, from the user's own mailbox, whether or not it started in Threadline.

The one exception to default-deny, taken by the user for one candidate. It runs in a
worker (services.candidate_import_run), one step at a time: a page of the provider's
search for one of the candidate's addresses, or a batch of messages to fetch and store.
The counts and the checkpoint (which address, which page, which ids are still to fetch)
are saved with what was stored, in one transaction (every search page, every fetched
batch of up to a hundred messages), so a worker that dies resumes where the last save
left off: nothing is lost, counted twice or stored twice.
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from candidates import audit
from candidates.models import Candidate, EmailThread
from core.leases import CONNECTION_LOST, Lease
from mailsync.ingest import (
    MessageBatch,
    MessageRemoved,
    threads_for_references,
    threads_visible_to,
)
from mailsync.mime import MalformedMessage, ParsedMessage, parse_message, reference_headers
from mailsync.models import ImportJob, MailboxConnection, MailboxThread
from mailsync.policy import mailbox_status
from mailsync.providers.base import MailboxSession, MessageRef, ProviderError, RawMessage
from mailsync.removal import tombstone_copy
from mailsync.selectors import messages_handled_by_outcome, removed_provider_message_ids
from mailsync.sync import labels_apply, message_skipped, message_store_guarded
from mailsync.threadref import message_id_digest, thread_from_headers
from mailsync.tokens import mark_needs_reauthorization, open_session

logger = logging.getLogger(__name__)

# A job is held by one worker at a time; the hold is renewed with each saved step, so a
# killed worker's job is free again soon after (MAILSYNC_IMPORT_LEASE_SECONDS).
IMPORT_LEASE = Lease(ImportJob, "claimed_until", "claim")


# Messages stored per transaction (and progress save) within a fetched batch: a provider's
# whole batch (Gmail 50, Outlook 4), stored together by MessageBatch in well under a second.
STORE_CHUNK = 100


class ImportRefused(Exception):
    """Why the import cannot run; the message is for the user."""


class LeaseLost(Exception):
    """Another worker holds the job now (ours ran out): stop without saving anything."""


@dataclass
class Checkpoint:
    """Where a job goes on: the candidate's addresses as they were when it started, which
    of them is being searched and the provider's token for its next page. `pending`
    holds the refs still to fetch as [id, thread id, found among sent mail], in the order
    the provider listed them (newest first); `seen` every id this job has counted as
    found (an address can share messages with another); `thread_ids` the Threadline
    threads it stored into."""

    addresses: list[str] = field(default_factory=list)
    address_index: int = 0
    page_token: str = ""
    pending: list[list[Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    thread_ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, job: ImportJob) -> "Checkpoint":
        saved = job.checkpoint or {}
        return cls(**{name: saved[name] for name in cls.__dataclass_fields__ if name in saved})


@dataclass(frozen=True)
class ImportRunOutcome:
    """What one worker's run of an import job came to; `again_in` (seconds): queue the job
    again then (its slice of time ran out, or the provider asked to slow down)."""

    state: str
    again_in: float | None = None


# A job the provider keeps refusing for this long, with no step saved, fails.
IMPORT_GIVE_UP_SECONDS = 30 * 60
IMPORT_RETRY_IN_SECONDS = 60.0


def import_job_run_held(job_id: uuid.UUID | str, token: str) -> ImportRunOutcome:
    """Run a job whose lease `token` the caller holds: work through it step by step and
    end it finished, cancelled or failed, or stop after MAILSYNC_IMPORT_SLICE_SECONDS so
    that a fresh task goes on (a task's time limit stays short)."""
    job = (
        ImportJob.objects.select_related(
            "user", "candidate", "mailbox__user", "mailbox__organisation"
        )
        .filter(pk=job_id)
        .first()
    )
    if job is None or job.state not in ImportJob.ACTIVE_STATES:
        return ImportRunOutcome(job.state if job else "gone")
    if job.cancel_requested:
        return ImportRunOutcome(import_job_end(job, ImportJob.State.CANCELLED))
    status = mailbox_status(job.mailbox)
    if not status.may_read:
        return ImportRunOutcome(
            import_job_end(job, ImportJob.State.FAILED, error=status.why_not_read)
        )
    now = timezone.now()
    taken = ImportJob.objects.filter(
        pk=job.pk, claim=token, state__in=ImportJob.ACTIVE_STATES, cancel_requested=False
    ).update(state=ImportJob.State.RUNNING, started_at=job.started_at or now, error="")
    if not taken:  # cancelled a moment ago, while still queued
        return ImportRunOutcome(ImportJob.State.CANCELLED)
    deadline = time.monotonic() + settings.MAILSYNC_IMPORT_SLICE_SECONDS

    def keep_going() -> bool:
        if time.monotonic() > deadline:
            return False
        if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
            return False
        if not IMPORT_LEASE.renew(job.pk, token, seconds=settings.MAILSYNC_IMPORT_LEASE_SECONDS):
            raise LeaseLost(f"Import {job.pk} was taken over by another worker.")
        return True

    try:
        done = import_job_advance(
            job, open_session(job.mailbox), lease_token=token, keep_going=keep_going
        )
    except LeaseLost:
        return ImportRunOutcome("busy")
    except ProviderError as failure:
        return _provider_failed(job, failure)
    except CONNECTION_LOST:
        # Nothing to write the failure with: the task runs again on a new connection and
        # goes on from the last saved checkpoint.
        raise
    except Exception:
        logger.exception("Import %s failed unexpectedly", job.pk)
        error = "The import failed unexpectedly; what it brought in so far is kept."
        return ImportRunOutcome(import_job_end(job, ImportJob.State.FAILED, error=error))
    if done:
        return ImportRunOutcome(import_job_end(job, ImportJob.State.FINISHED))
    if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
        return ImportRunOutcome(import_job_end(job, ImportJob.State.CANCELLED))
    return ImportRunOutcome(ImportJob.State.RUNNING, again_in=0)


def _provider_failed(job: ImportJob, failure: ProviderError) -> ImportRunOutcome:
    """Permanent failures end the job; a provider that keeps throttling or failing after
    the bounded retries is tried again in a minute, for up to half an hour without
    progress."""
    if failure.permanent:
        if failure.needs_reauthorization:
            mark_needs_reauthorization(job.mailbox, failure)
            error = "Your mailbox needs re-authorization under Settings › My account."
        else:
            error = "The mail provider refused the import."
        return ImportRunOutcome(import_job_end(job, ImportJob.State.FAILED, error=error))
    job.refresh_from_db(fields=["updated_at"])
    if timezone.now() - job.updated_at > timedelta(seconds=IMPORT_GIVE_UP_SECONDS):
        error = "The mail provider did not answer for half an hour; please try again later."
        return ImportRunOutcome(import_job_end(job, ImportJob.State.FAILED, error=error))
    logger.info("Import %s waits for the provider: %s", job.pk, failure)
    ImportJob.objects.filter(pk=job.pk).update(
        error="The mail provider asked us to slow down; the import goes on shortly."
    )
    return ImportRunOutcome(ImportJob.State.RUNNING, again_in=IMPORT_RETRY_IN_SECONDS)


# How an import's end reads on the profile's History.
IMPORT_END_EVENTS: dict[str, audit.Event] = {
    ImportJob.State.CANCELLED: audit.Event.IMPORT_CANCELLED,
    ImportJob.State.FAILED: audit.Event.IMPORT_FAILED,
}


def import_job_end(
    job: ImportJob,
    state: str,
    *,
    error: str = "",
    only_from: Iterable[str] = ImportJob.ACTIVE_STATES,
) -> str:
    """Move an active job to its end state and record it in the profile's history (once:
    the conditional update lets only one caller through)."""
    with transaction.atomic():
        ended = ImportJob.objects.filter(pk=job.pk, state__in=list(only_from)).update(
            state=state, error=error[:300], finished_at=timezone.now(), updated_at=timezone.now()
        )
        if not ended:
            return state
        job.refresh_from_db()
        audit.record(
            actor=job.user,
            event=IMPORT_END_EVENTS.get(state, audit.Event.IMPORT_FINISHED),
            candidate_id=job.candidate_id,
            about=job,
            counts={
                "found": job.found,
                "imported": job.imported,
                "already_there": job.already_there,
                "skipped": job.skipped,
                "removed_kept_out": job.removed_kept_out,
                "threads": job.threads,
            },
        )
    return state


def import_job_advance(
    job: ImportJob,
    session: MailboxSession,
    *,
    lease_token: str,
    keep_going: Callable[[], bool],
) -> bool:
    """Work through `job` step by step until nothing is left (True) or `keep_going` says
    stop before a step (False). Raises ProviderError when the provider fails (after its
    bounded retries) and LeaseLost when another worker took the job over."""
    checkpoint = Checkpoint.of(job)
    if not checkpoint.addresses:
        # Fixed at the start, so that an address added meanwhile does not shift the place.
        checkpoint.addresses = sorted(job.candidate.emails.values_list("address", flat=True))
    addresses = checkpoint.addresses
    threads: dict[str, EmailThread] = {}
    costs = session.quota_costs()
    while checkpoint.address_index < len(addresses) or checkpoint.pending:
        if not keep_going():
            return False
        began = time.monotonic()
        if checkpoint.address_index < len(addresses):
            _search_step(job, session, addresses, checkpoint, lease_token)
            units: float = costs.search_page
        else:
            fetched, stored_ids = _fetch_step(
                job, session, checkpoint, threads, costs.fetch_batch, lease_token
            )
            labelled = label_stored(job.mailbox, session, stored_ids)
            units = fetched * costs.fetch_per_message + labelled * costs.label_per_message
        pace(units, per_second=costs.per_second, since=began)
    return True


def _search_step(
    job: ImportJob,
    session: MailboxSession,
    addresses: list[str],
    checkpoint: Checkpoint,
    lease_token: str,
) -> None:
    """One page of the search for the current address; the ids it adds are sorted into
    already in Threadline, skipped before, removed (kept out) and still to fetch."""
    page = session.search_page(addresses[checkpoint.address_index], checkpoint.page_token)
    seen = set(checkpoint.seen)
    refs = list({ref.id: ref for ref in page.refs if ref.id not in seen}.values())
    ids = [ref.id for ref in refs]
    stored, skipped = messages_handled_by_outcome(mailbox=job.mailbox, provider_message_ids=ids)
    removed = (
        set()
        if job.include_removed
        else removed_provider_message_ids(mailbox=job.mailbox, provider_message_ids=ids)
    )
    counts = {"found": len(refs), "already_there": 0, "skipped": 0, "removed_kept_out": 0}
    for ref in refs:
        if ref.id in stored:
            counts["already_there"] += 1
        elif ref.id in skipped:
            counts["skipped"] += 1
        elif ref.id in removed:
            counts["removed_kept_out"] += 1
        else:
            checkpoint.pending.append([ref.id, ref.thread_id, ref.sent])
    checkpoint.seen += ids
    checkpoint.page_token = page.next_token
    if not page.next_token:
        checkpoint.address_index += 1
    _save(job, checkpoint, counts, lease_token)


def _fetch_step(
    job: ImportJob,
    session: MailboxSession,
    checkpoint: Checkpoint,
    threads: dict[str, EmailThread],
    batch_size: int,
    lease_token: str,
) -> tuple[int, list[str]]:
    """Fetch the oldest `batch_size` refs still to fetch (so a new thread takes its subject
    from the conversation's start) in one provider batch, then store them together
    (`_store_batched`; one by one when the batch cannot be written), saved with the counts
    and checkpoint in one transaction. Returns how many were fetched and the ids stored."""
    batch = checkpoint.pending[-batch_size:]
    refs = [
        MessageRef(id=ref_id, thread_id=thread_id, sent=sent) for ref_id, thread_id, sent in batch
    ]
    fetched = session.raw_messages(refs)
    parsed = {ref_id: parsed_or_none(message) for ref_id, message in fetched.items()}
    # Date has one-second resolution, so within a second a reply follows what it answers.
    # What cannot be read sorts last and is recorded as skipped by the guard below.
    refs.sort(key=lambda ref: sort_key(parsed.get(ref.id)))
    stored_ids: list[str] = []
    for start in range(0, len(refs), STORE_CHUNK):
        chunk = refs[start : start + STORE_CHUNK]
        before = (dict(threads), list(checkpoint.thread_ids), list(checkpoint.pending))
        try:
            with transaction.atomic():
                counts, chunk_ids = _store_batched(job, chunk, fetched, parsed, threads, checkpoint)
                _chunk_save(job, checkpoint, chunk, counts, lease_token)
        except (OperationalError, InterfaceError, LeaseLost):
            raise  # the database or the lease, not a message: the step stops here
        except Exception as problem:
            # A message the batch could not take (another worker stored it a moment ago,
            # or its content failed to store): the batch's transaction is rolled back and
            # the chunk stored again one by one, each message in its own guard.
            logger.info("Import %s: storing one by one (%s)", job.pk, type(problem).__name__)
            threads.clear()
            threads.update(before[0])
            checkpoint.thread_ids, checkpoint.pending = before[1], before[2]
            with transaction.atomic():
                counts, chunk_ids = _store_one_by_one(
                    job, chunk, fetched, parsed, threads, checkpoint
                )
                _chunk_save(job, checkpoint, chunk, counts, lease_token)
        stored_ids += chunk_ids
    return len(refs), stored_ids


def _chunk_save(
    job: ImportJob,
    checkpoint: Checkpoint,
    chunk: list[MessageRef],
    counts: dict[str, int],
    lease_token: str,
) -> None:
    done = {ref.id for ref in chunk}
    checkpoint.pending = [ref for ref in checkpoint.pending if ref[0] not in done]
    _save(job, checkpoint, counts, lease_token)


# What storing a chunk counts, whichever way it is stored.
STORE_OUTCOMES = ("imported", "already_there", "skipped", "removed_kept_out")


def _store_batched(
    job: ImportJob,
    chunk: list[MessageRef],
    fetched: dict[str, RawMessage],
    parsed: dict[str, ParsedMessage | None],
    threads: dict[str, EmailThread],
    checkpoint: Checkpoint,
) -> tuple[dict[str, int], list[str]]:
    """Store a chunk's messages as `_store_one_by_one` does, with what each message asks of
    the database read once for the chunk (thread links, cited threads, visibility, stored
    copies, tombstones) and written once (`MessageBatch`)."""
    counts = dict.fromkeys(STORE_OUTCOMES, 0)
    mailbox, candidate = job.mailbox, job.candidate
    present = [ref for ref in chunk if ref.id in fetched]
    lookup = _ThreadLookup.of(mailbox, candidate, present, fetched, parsed, threads)
    batch = MessageBatch(mailbox=mailbox)
    known = [*lookup.linked.values(), *lookup.cited.values(), *threads.values()]
    batch.prefetch(
        threads=known,
        candidate_ids={candidate.pk, *(thread.candidate_id for thread in known)},
        digests={
            message_id_digest(message.message_id)
            for message in parsed.values()
            if message is not None and message.message_id
        },
    )
    stored_ids: list[str] = []
    for ref in chunk:
        raw = fetched.get(ref.id)
        message = parsed.get(ref.id)
        if raw is None:
            counts["skipped"] += 1  # deleted from the mailbox since the search
            continue
        if message is None:
            message_skipped(mailbox, ref.id, MalformedMessage("unreadable"))
            counts["skipped"] += 1
            continue
        target, may_write = _thread_for(mailbox, candidate, ref, raw, threads, message, lookup)
        if not may_write:
            target = batch.private_thread(candidate_id=target.candidate_id, subject=message.subject)
        try:
            stored = batch.add(
                thread=target,
                parsed=message,
                # Only the provider's word that the owner sent it makes them its author.
                author=mailbox.user if raw.sent else None,
                provider_message_id=ref.id,
                provider_thread_id=ref.thread_id,
            )
        except MessageRemoved as removed:
            # A copy of mail removed from Threadline, found by its Message-ID.
            tombstone_copy(tombstone=removed.tombstone, mailbox=mailbox, provider_message_id=ref.id)
            counts["removed_kept_out"] += 1
            continue
        threads[ref.thread_id] = target
        counts["imported" if stored.created else "already_there"] += 1
        stored_ids.append(ref.id)
        checkpoint.thread_ids.append(str(target.pk))
    batch.write()
    return counts, stored_ids


def _store_one_by_one(
    job: ImportJob,
    chunk: list[MessageRef],
    fetched: dict[str, RawMessage],
    parsed: dict[str, ParsedMessage | None],
    threads: dict[str, EmailThread],
    checkpoint: Checkpoint,
) -> tuple[dict[str, int], list[str]]:
    counts = dict.fromkeys(STORE_OUTCOMES, 0)
    stored_ids: list[str] = []
    for ref in chunk:
        message = fetched.get(ref.id)
        if message is None:
            counts["skipped"] += 1  # deleted from the mailbox since the search
            continue
        target, may_write = _thread_for(
            job.mailbox, job.candidate, ref, message, threads, parsed[ref.id]
        )
        try:
            stored = message_store_guarded(
                job.mailbox, ref, message, thread=target, may_write=may_write, parsed=parsed[ref.id]
            )
        except MessageRemoved:
            # A copy of mail removed from Threadline, found by its Message-ID.
            counts["removed_kept_out"] += 1
            continue
        if stored is None:
            counts["skipped"] += 1
            continue
        threads[ref.thread_id] = stored.message.thread
        counts["imported" if stored.created else "already_there"] += 1
        stored_ids.append(ref.id)
        checkpoint.thread_ids.append(str(stored.message.thread_id))
    return counts, stored_ids


def label_stored(mailbox: MailboxConnection, session: MailboxSession, stored_ids: list[str]) -> int:
    """Our label on what the step stored, so later replies sync; a failure leaves them
    marked unlabelled for the next sync round. Returns how many were labelled."""
    if not stored_ids:
        return 0
    try:
        labels_apply(mailbox, session, stored_ids)
    except ProviderError as failure:
        logger.info("Labelling imported messages deferred: %s", failure)
        return 0
    return len(stored_ids)


def _save(job: ImportJob, checkpoint: Checkpoint, counts: dict[str, int], lease_token: str) -> None:
    """Add the step's counts and store the checkpoint, if the job is still ours."""
    checkpoint.thread_ids = list(dict.fromkeys(checkpoint.thread_ids))
    now = timezone.now()
    saved = ImportJob.objects.filter(pk=job.pk, claim=lease_token).update(
        checkpoint=asdict(checkpoint),
        threads=len(checkpoint.thread_ids),
        updated_at=now,
        **{name: F(name) + value for name, value in counts.items() if value},
    )
    if not saved:
        raise LeaseLost(f"Import {job.pk} was taken over by another worker.")
    for name, value in counts.items():
        setattr(job, name, getattr(job, name) + value)
    job.threads = len(checkpoint.thread_ids)
    job.checkpoint = asdict(checkpoint)
    job.updated_at = now


def pace(units: float, *, per_second: float, since: float) -> None:
    """Wait until the step's quota units fit the per-second budget: a step that spent
    `units` takes at least units / per_second seconds. Called after every step, even to
    wait for nothing: it is where a job pauses between two steps."""
    wait = max(0.0, units / per_second - (time.monotonic() - since))
    # MAILSYNC_SLEEP: tests record the wait instead of sleeping.
    import_string(settings.MAILSYNC_SLEEP)(wait)


def parsed_or_none(message: RawMessage) -> ParsedMessage | None:
    try:
        return parse_message(message.raw, received_at=message.received_at)
    except MalformedMessage:
        return None


def sort_key(parsed: ParsedMessage | None) -> tuple[int, datetime, bool]:
    if parsed is None:
        return (1, datetime.max.replace(tzinfo=UTC), True)
    return (0, parsed.sent_at, bool(parsed.in_reply_to))


@dataclass(frozen=True)
class _ThreadLookup:
    """What `_thread_for` reads for a chunk's messages, read once for all of them: the
    threads their mailbox threads are linked to, the threads their signed references name,
    and which of those the importing user may see."""

    linked: dict[str, EmailThread]
    cited: dict[str, EmailThread]  # by provider message id
    visible: set[uuid.UUID]

    @classmethod
    def of(
        cls,
        mailbox: MailboxConnection,
        candidate: Candidate,
        refs: list[MessageRef],
        fetched: dict[str, RawMessage],
        parsed: dict[str, ParsedMessage | None],
        threads: dict[str, EmailThread],
    ) -> "_ThreadLookup":
        unknown = [ref for ref in refs if ref.thread_id not in threads]
        provider_thread_ids = {ref.thread_id for ref in unknown if ref.thread_id}
        linked = (
            {
                link.provider_thread_id: link.thread
                for link in MailboxThread.objects.filter(
                    mailbox=mailbox, provider_thread_id__in=provider_thread_ids
                ).select_related("thread")
            }
            if provider_thread_ids
            else {}
        )
        citing = {
            ref.id: thread_id
            for ref in unknown
            if ref.thread_id not in linked
            and (thread_id := _cited_thread_id(fetched[ref.id], parsed.get(ref.id)))
        }
        cited_threads = threads_for_references(
            organisation_id=candidate.organisation_id, thread_ids=set(citing.values())
        )
        cited = {
            ref_id: cited_threads[thread_id]
            for ref_id, thread_id in citing.items()
            if thread_id in cited_threads
        }
        found = {thread.pk for thread in [*linked.values(), *cited.values()]}
        return cls(linked=linked, cited=cited, visible=threads_visible_to(mailbox.user, found))


def _cited_thread_id(message: RawMessage, parsed: ParsedMessage | None) -> uuid.UUID | None:
    headers: list[str | None]
    if parsed is not None:  # read already: the same headers, not parsed again
        headers = list(parsed.reference_headers)
    else:
        try:
            headers = list(reference_headers(message.raw))
        except MalformedMessage:
            headers = []
    return thread_from_headers(headers)


def _thread_for(
    mailbox: MailboxConnection,
    candidate: Candidate,
    ref: MessageRef,
    message: RawMessage,
    threads: dict[str, EmailThread],
    parsed: ParsedMessage | None,
    lookup: _ThreadLookup | None = None,
) -> tuple[EmailThread, bool]:
    """The Threadline thread for a mailbox message, and whether the importing user may
    write to it: the one this import already used for its mailbox thread, the one already
    linked, or the one a signed reference names. Anything else (or a thread the user may
    not see) becomes a new private thread of theirs (`may_write` false). `lookup`: what
    was read for the chunk, else it is read for this message alone."""
    if ref.thread_id in threads:
        return threads[ref.thread_id], True
    if lookup is None:
        lookup = _ThreadLookup.of(
            mailbox, candidate, [ref], {ref.id: message}, {ref.id: parsed}, threads
        )
    found = lookup.linked.get(ref.thread_id) if ref.thread_id else None
    if found is None:
        referenced = lookup.cited.get(ref.id)
        if referenced is not None and referenced.candidate_id == candidate.pk:
            found = referenced
    if found is None:
        # A placeholder for "this candidate, not yet a thread": the guard creates the
        # importing user's private thread with the message's subject.
        return EmailThread(candidate=candidate, origin=EmailThread.Origin.IMPORTED), False
    return found, found.pk in lookup.visible
