"""Automatic ingestion's work (issue 12): a mailbox's one-on-one conversations with the
organisation's candidates, from a year before the job started (the user authorizing, or
the switch turned on), in threads active in the last six months.

Default-deny all the way down. The provider is asked only for mail with the candidates
(their addresses, a batch per search) and for the user's own conversations started in
Threadline (by their signed Message-IDs); each conversation found is judged on its header
lines alone (who was on it, when, and a signed reference: never a subject, body or
snippet) against the rules in mailsync.ingestion_rules; only a conversation that passes is
fetched whole and stored, as a private thread of the user's. Nothing of a conversation
that fails a rule is stored; the job keeps a count per rule.

Like "Import candidate email" (mailsync.manual_import, whose lease, pacing and failure
handling it shares) the job goes step by step: a search page, or a few conversations
judged, fetched and stored. Each step's counts and checkpoint are saved with what it
stored, in one transaction, so a worker that dies resumes where the last save left off.
Once stored, a conversation has its MailboxThread row: the normal sync keeps it up to date.
"""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from candidates.models import CandidateEmail, EmailMessage, EmailThread
from core.leases import CONNECTION_LOST, Lease
from mailsync.ingest import MessageRemoved, thread_for_references, threads_visible_to
from mailsync.ingestion_rules import SkipRule
from mailsync.manual_import import (
    IMPORT_GIVE_UP_SECONDS,
    IMPORT_RETRY_IN_SECONDS,
    ImportRunOutcome,
    LeaseLost,
    label_stored,
    pace,
    parsed_or_none,
    sort_key,
)
from mailsync.mime import ParsedMessage
from mailsync.models import IngestionJob, MailboxConnection, MailboxThread
from mailsync.policy import READING_LEVELS, mailbox_status
from mailsync.providers.base import (
    MailboxSession,
    MessageHeaders,
    MessageRef,
    ProviderError,
    RawMessage,
)
from mailsync.selectors import messages_already_handled, removed_provider_message_ids
from mailsync.sync import message_store_guarded
from mailsync.tokens import mark_needs_reauthorization, open_session

logger = logging.getLogger(__name__)

INGESTION_LEASE = Lease(IngestionJob, "claimed_until", "claim")
ACTIVE_STATES = (IngestionJob.State.QUEUED, IngestionJob.State.RUNNING)
# Candidate addresses per provider search (Gmail's query and Graph's KQL stay short).
ADDRESS_BATCH = 10
# Message-IDs per search for the user's conversations started in Threadline.
REFERENCE_BATCH = 10
# Conversations judged (and, where they pass, fetched and stored) per step.
THREAD_BATCH = 20
# How many of the user's Threadline-sent messages are looked for, newest first.
REFERENCE_LIMIT = 1000

INGESTION_OFF = "Automatic ingestion was turned off for your organisation."


@dataclass
class Checkpoint:
    """Where a job goes on. The candidates' addresses and the user's Threadline
    Message-IDs as they were when it started (fixed, so that the place does not shift);
    which batch of each is being searched and the provider's token for its next page;
    `pending`: conversations found and still to judge; `seen`: every conversation found."""

    addresses: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    address_batch: int = 0
    reference_batch: int = 0
    page_token: str = ""
    pending: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    started: bool = False

    @classmethod
    def of(cls, job: IngestionJob) -> "Checkpoint":
        saved = job.checkpoint or {}
        return cls(**{name: saved[name] for name in cls.__dataclass_fields__ if name in saved})

    def searching(self) -> bool:
        return self.address_batch * ADDRESS_BATCH < len(
            self.addresses
        ) or self.reference_batch * REFERENCE_BATCH < len(self.references)


# --- the run -------------------------------------------------------------------------------


def ingestion_job_run(job_id: int) -> ImportRunOutcome:
    """A worker's run: hold the job's lease, work through it step by step, and end it
    done, cancelled or failed; or hand over to a fresh task after a slice of time."""
    token = INGESTION_LEASE.take(job_id, seconds=settings.MAILSYNC_IMPORT_LEASE_SECONDS)
    if token is None:
        return ImportRunOutcome("busy")
    try:
        return _run_held(job_id, token)
    finally:
        INGESTION_LEASE.release(job_id, token)


def _run_held(job_id: int, token: str) -> ImportRunOutcome:
    job = (
        IngestionJob.objects.select_related("mailbox__user", "mailbox__organisation")
        .filter(pk=job_id)
        .first()
    )
    if job is None or job.state not in ACTIVE_STATES:
        return ImportRunOutcome(job.state if job else "gone")
    organisation = job.mailbox.organisation
    if not organisation.auto_ingestion_enabled:
        return ImportRunOutcome(ingestion_job_end(job, IngestionJob.State.CANCELLED, INGESTION_OFF))
    status = mailbox_status(job.mailbox)
    if not status.may_read or organisation.email_sync_level not in READING_LEVELS:
        why = status.why_not_read or "Your organisation's email level does not read mail."
        return ImportRunOutcome(ingestion_job_end(job, IngestionJob.State.FAILED, why))
    now = timezone.now()
    IngestionJob.objects.filter(pk=job.pk, claim=token).update(
        state=IngestionJob.State.RUNNING, started_at=job.started_at or now, error=""
    )
    deadline = time.monotonic() + settings.MAILSYNC_IMPORT_SLICE_SECONDS

    def keep_going() -> bool:
        if time.monotonic() > deadline:
            return False
        if not INGESTION_LEASE.renew(job.pk, token, seconds=settings.MAILSYNC_IMPORT_LEASE_SECONDS):
            raise LeaseLost(f"Ingestion {job.pk} was taken over by another worker.")
        return True

    try:
        done = ingestion_job_advance(
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
        logger.exception("Ingestion %s failed unexpectedly", job.pk)
        error = "Ingestion failed unexpectedly; what it brought in so far is kept."
        return ImportRunOutcome(ingestion_job_end(job, IngestionJob.State.FAILED, error))
    if done:
        return ImportRunOutcome(ingestion_job_end(job, IngestionJob.State.DONE))
    return ImportRunOutcome(IngestionJob.State.RUNNING, again_in=0)


def _provider_failed(job: IngestionJob, failure: ProviderError) -> ImportRunOutcome:
    """As for imports: a permanent failure ends the job (a revoked grant marks the mailbox
    for re-authorization); a throttling or failing provider is tried again in a minute,
    for up to half an hour without progress."""
    if failure.permanent:
        if failure.needs_reauthorization:
            mark_needs_reauthorization(job.mailbox, failure)
            error = "Your mailbox needs re-authorization under Settings › My account."
        else:
            error = "The mail provider refused the ingestion."
        return ImportRunOutcome(ingestion_job_end(job, IngestionJob.State.FAILED, error))
    job.refresh_from_db(fields=["updated_at"])
    if timezone.now() - job.updated_at > timedelta(seconds=IMPORT_GIVE_UP_SECONDS):
        error = "The mail provider did not answer for half an hour; ingestion stopped."
        return ImportRunOutcome(ingestion_job_end(job, IngestionJob.State.FAILED, error))
    logger.info("Ingestion %s waits for the provider: %s", job.pk, failure)
    IngestionJob.objects.filter(pk=job.pk).update(
        error="The mail provider asked us to slow down; ingestion goes on shortly."
    )
    return ImportRunOutcome(IngestionJob.State.RUNNING, again_in=IMPORT_RETRY_IN_SECONDS)


def ingestion_job_end(job: IngestionJob, state: str, error: str = "") -> str:
    """Move an active job to its end state (once: a conditional update)."""
    now = timezone.now()
    IngestionJob.objects.filter(pk=job.pk, state__in=ACTIVE_STATES).update(
        state=state, error=error[:300], finished_at=now, updated_at=now
    )
    return state


def ingestion_job_advance(
    job: IngestionJob,
    session: MailboxSession,
    *,
    lease_token: str,
    keep_going: Callable[[], bool],
) -> bool:
    """Work through `job` until nothing is left (True) or `keep_going` says stop (False).
    Searches until enough conversations wait to be judged, then judges a batch of them,
    and so on. Raises ProviderError and LeaseLost."""
    checkpoint = Checkpoint.of(job)
    if not checkpoint.started:
        _fix_sources(job, checkpoint)
        _save(job, checkpoint, {}, lease_token)
    costs = session.quota_costs()
    while checkpoint.searching() or checkpoint.pending:
        if not keep_going():
            return False
        began = time.monotonic()
        if checkpoint.searching() and len(checkpoint.pending) < THREAD_BATCH:
            _search_step(job, session, checkpoint, lease_token)
            units: float = costs.search_page
        else:
            judged, fetched, stored_ids = _judge_step(job, session, checkpoint, lease_token)
            labelled = label_stored(job.mailbox, session, stored_ids)
            units = (
                judged * costs.thread_headers
                + fetched * costs.fetch_per_message
                + labelled * costs.label_per_message
            )
        pace(units, per_second=costs.per_second, since=began)
    return True


def _fix_sources(job: IngestionJob, checkpoint: Checkpoint) -> None:
    """What the job searches for, fixed at its start: every candidate address of the
    organisation, and the Message-IDs of what the user sent from Threadline in the window
    (a conversation started in Threadline is ingested even with someone who is not, or
    no longer, a candidate)."""
    mailbox = job.mailbox
    checkpoint.addresses = sorted(
        {
            address.lower()
            for address in CandidateEmail.objects.filter(
                organisation_id=mailbox.organisation_id
            ).values_list("address", flat=True)
        }
    )
    # Message-IDs are encrypted at rest: ours (`<tl.…>`) are told apart after reading.
    sent = (
        EmailMessage.objects.filter(
            thread__organisation_id=mailbox.organisation_id,
            sender=mailbox.user,
            sent_at__gte=job.since,
        )
        .order_by("-sent_at")
        .values_list("message_id", flat=True)
    )
    checkpoint.references = [
        message_id for message_id in sent.iterator() if message_id.startswith("<tl.")
    ][:REFERENCE_LIMIT]
    checkpoint.started = True


def _search_step(
    job: IngestionJob, session: MailboxSession, checkpoint: Checkpoint, lease_token: str
) -> None:
    """One page of the current search; the conversations it names that were not found
    before wait to be judged."""
    if checkpoint.address_batch * ADDRESS_BATCH < len(checkpoint.addresses):
        start = checkpoint.address_batch * ADDRESS_BATCH
        batch = checkpoint.addresses[start : start + ADDRESS_BATCH]
        page = session.participants_search_page(batch, job.since, checkpoint.page_token)
        if not page.next_token:
            checkpoint.address_batch += 1
    else:
        start = checkpoint.reference_batch * REFERENCE_BATCH
        batch = checkpoint.references[start : start + REFERENCE_BATCH]
        page = session.message_id_search_page(batch, checkpoint.page_token)
        if not page.next_token:
            checkpoint.reference_batch += 1
    checkpoint.page_token = page.next_token
    seen = set(checkpoint.seen)
    new = [ref.thread_id for ref in page.refs if ref.thread_id and ref.thread_id not in seen]
    new = list(dict.fromkeys(new))
    checkpoint.seen += new
    checkpoint.pending += new
    _save(job, checkpoint, {"found": len(new)}, lease_token)


@dataclass(frozen=True)
class _Verdict:
    """A conversation that passes: the messages to store, and where they go (a thread
    started in Threadline or already linked to the conversation, or else a candidate's
    new ingested thread)."""

    messages: list[MessageHeaders]
    candidate_id: uuid.UUID
    started_in: EmailThread | None


def judge(
    job: IngestionJob,
    messages: list[MessageHeaders],
    candidates: dict[str, uuid.UUID],
) -> SkipRule | _Verdict:
    """The first rule `messages` (one conversation's header lines) break, or what to
    store. `candidates`: the organisation's candidate ids by address."""
    mailbox = job.mailbox
    own = mailbox.account_address.lower()
    people = {address for message in messages for address in message.addresses} | {own}
    if len(people) > 2:
        return SkipRule.GROUP
    others = people - {own}
    counterpart = next(iter(others), "")
    if counterpart and counterpart.rpartition("@")[2] == own.rpartition("@")[2]:
        return SkipRule.OWN_DOMAIN
    started_in = thread_for_references(
        organisation_id=mailbox.organisation_id,
        headers=[value for message in messages for value in message.references],
    )
    candidate_id = started_in.candidate_id if started_in else candidates.get(counterpart)
    if not counterpart or candidate_id is None:
        return SkipRule.NOT_CANDIDATE
    in_window = [m for m in messages if m.at is not None and m.at >= job.since]
    if not in_window or max(m.at for m in in_window if m.at) < job.active_since:
        return SkipRule.INACTIVE
    return _Verdict(messages=in_window, candidate_id=candidate_id, started_in=started_in)


SKIP_COUNTS = {
    SkipRule.GROUP: "skipped_group",
    SkipRule.OWN_DOMAIN: "skipped_own_domain",
    SkipRule.NOT_CANDIDATE: "skipped_not_candidate",
    SkipRule.INACTIVE: "skipped_inactive",
}


def _judge_step(
    job: IngestionJob, session: MailboxSession, checkpoint: Checkpoint, lease_token: str
) -> tuple[int, int, list[str]]:
    """Judge the next conversations on their header lines; fetch whole only the messages
    of those that pass (not already handled, not removed from Threadline) and store them
    with the counts and checkpoint in one transaction. Returns how many conversations were
    read, how many messages fetched and the provider ids stored."""
    mailbox = job.mailbox
    batch = checkpoint.pending[:THREAD_BATCH]
    # Conversations already in Threadline (synced, imported, ingested before) are not
    # judged again: like sync, ingestion brings in what they got meanwhile (while the
    # mailbox was deauthorized, say).
    known = {
        link.provider_thread_id: link.thread
        for link in MailboxThread.objects.filter(
            mailbox=mailbox, provider_thread_id__in=batch
        ).select_related("thread")
    }
    counts = {name: 0 for name in [*SKIP_COUNTS.values(), "skipped_unreadable"]}
    counts.update(already_there=0, ingested=0, messages_ingested=0)
    conversations = session.conversation_headers(batch) if batch else {}
    candidates = _candidates_by_address(mailbox, conversations)
    passing: dict[str, _Verdict] = {}
    for thread_id in batch:
        messages = conversations.get(thread_id)
        if not messages:
            counts["skipped_unreadable" if thread_id not in known else "already_there"] += 1
            continue
        if thread_id in known:
            thread = known[thread_id]
            in_window = [m for m in messages if m.at is not None and m.at >= job.since]
            passing[thread_id] = _Verdict(in_window, thread.candidate_id, started_in=thread)
            continue
        verdict = judge(job, messages, candidates)
        if isinstance(verdict, SkipRule):
            counts[SKIP_COUNTS[verdict]] += 1
        else:
            passing[thread_id] = verdict
    refs = _refs_to_fetch(mailbox, passing)
    fetched = session.raw_messages(refs) if refs else {}
    stored_ids: list[str] = []
    with transaction.atomic():
        for thread_id, verdict in passing.items():
            wanted = [ref for ref in refs if ref.thread_id == thread_id]
            stored = _store_conversation(job, verdict, wanted, fetched)
            if stored is None:
                counts["skipped_unreadable"] += 1
            elif stored:
                counts["ingested"] += 1
                counts["messages_ingested"] += len(stored)
                stored_ids += stored
            else:
                counts["already_there"] += 1
        checkpoint.pending = checkpoint.pending[len(batch) :]
        _save(job, checkpoint, counts, lease_token)
    return len(batch), len(refs), stored_ids


def _candidates_by_address(
    mailbox: MailboxConnection, conversations: dict[str, list[MessageHeaders]]
) -> dict[str, uuid.UUID]:
    addresses = {a for messages in conversations.values() for m in messages for a in m.addresses}
    return {
        address.lower(): candidate_id
        for address, candidate_id in CandidateEmail.objects.filter(
            organisation_id=mailbox.organisation_id, address__in=addresses
        ).values_list("address", "candidate_id")
    }


def _refs_to_fetch(mailbox: MailboxConnection, passing: dict[str, _Verdict]) -> list[MessageRef]:
    refs = [
        MessageRef(id=message.id, thread_id=thread_id, sent=message.sent)
        for thread_id, verdict in passing.items()
        for message in verdict.messages
    ]
    ids = [ref.id for ref in refs]
    handled = messages_already_handled(mailbox=mailbox, provider_message_ids=ids)
    removed = removed_provider_message_ids(mailbox=mailbox, provider_message_ids=ids)
    return [ref for ref in refs if ref.id not in handled and ref.id not in removed]


def _store_conversation(
    job: IngestionJob,
    verdict: _Verdict,
    refs: list[MessageRef],
    fetched: dict[str, RawMessage],
) -> list[str] | None:
    """Store a passing conversation's messages, oldest first. Returns the provider ids
    stored ([] when there was nothing new), None when nothing of it could be read."""
    mailbox = job.mailbox
    parsed = {ref.id: parsed_or_none(fetched[ref.id]) for ref in refs if ref.id in fetched}
    readable = sorted(
        (ref for ref in refs if parsed.get(ref.id) is not None),
        key=lambda ref: sort_key(parsed[ref.id]),
    )
    if not refs:
        return []
    if not readable:
        return None
    target, may_write = _target(job, verdict, parsed[readable[0].id])
    created = verdict.started_in is None
    stored_ids: list[str] = []
    for ref in readable:
        try:
            stored = message_store_guarded(
                mailbox,
                ref,
                fetched[ref.id],
                thread=target,
                may_write=may_write,
                parsed=parsed[ref.id],
            )
        except MessageRemoved:
            continue  # removed from Threadline by someone: stays out
        if stored is None:
            continue
        # Diverted from a thread the user may not see: the rest follows it there.
        target, may_write = stored.message.thread, True
        if stored.created:
            stored_ids.append(ref.id)
    if created and not EmailMessage.objects.filter(thread=target).exists():
        target.delete()  # nothing of it could be stored: no empty thread left behind
        return None
    return stored_ids


def _target(
    job: IngestionJob, verdict: _Verdict, first: ParsedMessage | None
) -> tuple[EmailThread, bool]:
    """Where a passing conversation goes: the thread it started in Threadline when the
    user may see it (otherwise `message_store_guarded` diverts it to a private thread of
    theirs); else a new thread of the user's, private to them, marked ingested."""
    mailbox = job.mailbox
    if verdict.started_in is not None:
        visible = threads_visible_to(mailbox.user, {verdict.started_in.pk})
        return verdict.started_in, bool(visible)
    subject = first.subject if first is not None else ""
    thread = EmailThread.objects.create(
        organisation_id=mailbox.organisation_id,
        candidate_id=verdict.candidate_id,
        owner=mailbox.user,
        origin=EmailThread.Origin.INGESTED,
        subject=subject[:998],
        visibility=EmailThread.Visibility.PRIVATE,
    )
    return thread, True


def _save(
    job: IngestionJob, checkpoint: Checkpoint, counts: dict[str, int], lease_token: str
) -> None:
    """Add the step's counts and store the checkpoint, if the job is still ours."""
    now = timezone.now()
    saved = IngestionJob.objects.filter(pk=job.pk, claim=lease_token).update(
        checkpoint=asdict(checkpoint),
        updated_at=now,
        **{name: F(name) + value for name, value in counts.items() if value},
    )
    if not saved:
        raise LeaseLost(f"Ingestion {job.pk} was taken over by another worker.")
    for name, value in counts.items():
        setattr(job, name, getattr(job, name) + value)
    job.checkpoint = asdict(checkpoint)
    job.updated_at = now
