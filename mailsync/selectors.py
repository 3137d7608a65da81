import uuid
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Organisation, User
from candidates.models import Candidate
from mailsync.models import (
    DraftAttachment,
    ImportJob,
    IngestionJob,
    MailboxConnection,
    RemovedMessage,
    SkippedMessage,
    SyncedMessage,
)
from mailsync.policy import READING_LEVELS
from mailsync.retention import RUN_AT_UTC, retention_cutoff, threads_due


def mailbox_for(*, user: User) -> MailboxConnection | None:
    """The user's mailbox connection, carrying the caller's own user (and organisation,
    when loaded) rather than copies joined in: the layout asks on every page."""
    if not getattr(user, "is_authenticated", False):
        return None
    mailbox = MailboxConnection.objects.filter(user=user).first()
    if mailbox is not None:
        mailbox.user = user
        # Only when loaded: reading it here would cost the query the join did.
        organisation = user.organisation if User.organisation.is_cached(user) else None
        if organisation is not None and organisation.pk == mailbox.organisation_id:
            mailbox.organisation = organisation
    return mailbox


def request_mailbox(request: HttpRequest) -> MailboxConnection | None:
    """The signed-in user's mailbox for a page: its layout (context_processors) and its
    view both show it, so it is read once a request, when first asked. Only for reading:
    pages ask after their view's writes, and a service reads it itself (mailbox_for)."""
    if not hasattr(request, "_threadline_mailbox"):
        user = request.user
        request._threadline_mailbox = mailbox_for(user=user) if isinstance(user, User) else None  # type: ignore[attr-defined]
    mailbox: MailboxConnection | None = request._threadline_mailbox  # type: ignore[attr-defined]
    return mailbox


def my_ingestion_job(*, user: User) -> IngestionJob | None:
    """The latest automatic ingestion of the user's own mailbox, for their My account: a
    job's counts are shown to its mailbox's owner only."""
    return IngestionJob.objects.filter(mailbox__user=user).order_by("-created_at", "-pk").first()


def my_ingestion_job_get(*, user: User, job_id: int) -> IngestionJob:
    """One ingestion job of the user's own mailbox; 404 for anyone else's."""
    return get_object_or_404(IngestionJob, pk=job_id, mailbox__user=user)


def mailboxes_to_sync(*, user_email: str = "") -> list[int]:
    """The mailboxes `mailbox_status` lets us read, asked of the database."""
    mailboxes = MailboxConnection.objects.filter(
        state=MailboxConnection.State.CONNECTED,
        uses_email=True,
        user__is_active=True,
        sync_level__in=READING_LEVELS,
        organisation__email_sync_level__in=READING_LEVELS,
    ).exclude(
        # The provider asked us to wait (429 with Retry-After): asking sooner only earns
        # another 429 and spends quota the user's other clients need.
        throttled_until__gt=timezone.now()
    )
    if user_email:
        mailboxes = mailboxes.filter(user__email__iexact=user_email)
    return list(mailboxes.order_by("last_synced_at", "pk").values_list("pk", flat=True))


def messages_already_handled(
    *, mailbox: MailboxConnection, provider_message_ids: list[str]
) -> set[str]:
    """Which of these provider messages were stored, skipped as unreadable, or removed
    from Threadline, before: a message is handled once, whatever happened to it."""
    stored, skipped = messages_handled_by_outcome(
        mailbox=mailbox, provider_message_ids=provider_message_ids
    )
    removed = removed_provider_message_ids(
        mailbox=mailbox, provider_message_ids=provider_message_ids
    )
    return stored | skipped | removed


def messages_handled_by_outcome(
    *, mailbox: MailboxConnection, provider_message_ids: list[str]
) -> tuple[set[str], set[str]]:
    """Of these provider messages, (those stored before, those skipped as unreadable)."""
    stored = SyncedMessage.objects.filter(
        mailbox=mailbox, provider_message_id__in=provider_message_ids
    ).values_list("provider_message_id", flat=True)
    skipped = SkippedMessage.objects.filter(
        mailbox=mailbox, provider_message_id__in=provider_message_ids
    ).values_list("provider_message_id", flat=True)
    return set(stored), set(skipped)


# --- Removed from Threadline (tombstones) -------------------------------------------------


def removed_provider_message_ids(
    *, mailbox: MailboxConnection, provider_message_ids: list[str]
) -> set[str]:
    """Which of these copies in `mailbox` were removed from Threadline: kept out before
    anything of them is fetched."""
    return set(
        RemovedMessage.objects.filter(
            mailbox=mailbox, provider_message_id__in=provider_message_ids
        ).values_list("provider_message_id", flat=True)
    )


def removed_tombstone(
    *, organisation_id: int, candidate_id: uuid.UUID, message_id_digest: str
) -> RemovedMessage | None:
    """The tombstone that keeps this Message-ID off the candidate's profile, whichever
    mailbox or route a copy comes by; None when it was never removed from it."""
    return (
        RemovedMessage.objects.filter(
            organisation_id=organisation_id,
            candidate_id=candidate_id,
            message_id_digest=message_id_digest,
        )
        .order_by("removed_at", "pk")
        .first()
    )


def _restorable_tombstones(
    *, mailbox: MailboxConnection, candidate_id: uuid.UUID
) -> QuerySet[RemovedMessage]:
    """The candidate's removed messages that an import from `mailbox` would keep out and
    that its owner may bring back: the copies that were in this mailbox, and removed mail
    that was in no mailbox (a routed copy) which they removed themselves."""
    return RemovedMessage.objects.filter(
        Q(mailbox=mailbox) | Q(mailbox__isnull=True, removed_by_id=mailbox.user_id),
        candidate_id=candidate_id,
    )


def removed_count_for(*, mailbox: MailboxConnection, candidate_id: uuid.UUID) -> int:
    """How many removed messages an import of this candidate from `mailbox` keeps out
    unless its owner chooses to bring them back (one per message, however many copies)."""
    return (
        _restorable_tombstones(mailbox=mailbox, candidate_id=candidate_id)
        .values("message_id_digest")
        .distinct()
        .count()
    )


def restorable_tombstones_all_copies(
    *, mailbox: MailboxConnection, candidate_id: uuid.UUID
) -> QuerySet[RemovedMessage]:
    """Every tombstone (any mailbox's copy, or none) of the messages `removed_count_for`
    counts: all of them must go for such a message to come back, since any one of them
    keeps its Message-ID out."""
    digests = _restorable_tombstones(mailbox=mailbox, candidate_id=candidate_id).values(
        "message_id_digest"
    )
    return RemovedMessage.objects.filter(
        organisation_id=mailbox.organisation_id,
        candidate_id=candidate_id,
        message_id_digest__in=digests,
    )


def draft_attachments_for(*, user: User, ids: list[str]) -> list[DraftAttachment]:
    """The user's own kept files among `ids` (anything else, or malformed, is ignored)."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(value))
        except ValueError:
            continue
    return list(DraftAttachment.objects.filter(user=user, pk__in=wanted).order_by("created_at"))


# --- Import jobs ---------------------------------------------------------------------------


# How long the Emails tab keeps showing an ended import's summary.
IMPORT_SUMMARY_SHOWN_FOR = timedelta(hours=1)


def import_job_shown(*, user: User, candidate: Candidate) -> ImportJob | None:
    """The import the Emails tab shows the user for this candidate: their running one, or
    the summary of the last one if it ended within the hour (so a reload keeps both)."""
    job = ImportJob.objects.filter(user=user, candidate=candidate).order_by("-created_at").first()
    if job is None or job.state in ImportJob.ACTIVE_STATES:
        return job
    ended = job.finished_at or job.updated_at
    return job if timezone.now() - ended < IMPORT_SUMMARY_SHOWN_FOR else None


def import_job_get(*, user: User, candidate: Candidate, job_id: uuid.UUID) -> ImportJob:
    """One of the user's own import jobs for this candidate, or 404 (anyone else's too)."""
    return get_object_or_404(ImportJob, pk=job_id, user=user, candidate=candidate)


def import_jobs_stalled(*, older_than_seconds: int) -> list[str]:
    """Active jobs no worker holds (queued and never picked up, or running with a lease
    that ran out: a killed worker) and untouched for a while: to be queued again."""
    now = timezone.now()
    stale = now - timedelta(seconds=older_than_seconds)
    jobs = ImportJob.objects.filter(state__in=ImportJob.ACTIVE_STATES, updated_at__lt=stale).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    return [str(pk) for pk in jobs.values_list("pk", flat=True)]


def retention_next_run(*, now: datetime | None = None) -> datetime:
    """When beat's daily retention run comes next (RUN_AT_UTC, today or tomorrow)."""
    now = now or timezone.now()
    today = datetime.combine(now.date(), RUN_AT_UTC, tzinfo=UTC)
    return today if now < today else today + timedelta(days=1)


def retention_due_count(*, organisation: Organisation) -> int:
    """How many of the organisation's threads the next retention run removes if nothing
    is sent or received in them meanwhile: counted at that run's own cutoff.

    Reads threads without candidates.policy on purpose: an organisation-wide count, never
    a thread, shown only to a Super Admin on Settings > Company (whose view requires that
    role), and what they are told must be what the run will really remove, whoever can see
    the threads."""
    cutoff = retention_cutoff(months=organisation.retention_months, now=retention_next_run())
    return threads_due(organisation_id=organisation.pk, cutoff=cutoff).count()


def organisations_for_retention(*, slug: str = "") -> list[int]:
    """Every organisation (or the one with `slug`): each has a retention period."""
    organisations = Organisation.objects.all()
    if slug:
        organisations = organisations.filter(slug=slug)
    return list(organisations.order_by("pk").values_list("pk", flat=True))


def ingestion_job_latest(mailbox: MailboxConnection | None) -> IngestionJob | None:
    """The mailbox's newest automatic ingestion job (what My account shows)."""
    if mailbox is None:
        return None
    return IngestionJob.objects.filter(mailbox=mailbox).order_by("-created_at", "-pk").first()


def ingestion_jobs_stalled(*, older_than_seconds: int) -> list[int]:
    """Active ingestion jobs no worker holds and untouched for a while: to be queued again."""
    now = timezone.now()
    stale = now - timedelta(seconds=older_than_seconds)
    jobs = IngestionJob.objects.filter(
        state__in=[IngestionJob.State.QUEUED, IngestionJob.State.RUNNING], updated_at__lt=stale
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    return list(jobs.values_list("pk", flat=True))
