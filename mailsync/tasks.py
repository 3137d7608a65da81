from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction

from core.leases import CONNECTION_LOST
from mailsync.selectors import mailboxes_to_sync, organisations_for_retention
from mailsync.services import (
    candidate_import_run,
    draft_attachments_clean_up,
    import_jobs_resume,
    ingestion_jobs_resume,
    ingestion_run,
    mailbox_sync,
    retention_sweep,
    sync_leases_sweep,
)


# Celery ships no type information (its names are Any here, see pyproject.toml): the
# decorated functions are Celery tasks whose calls mypy cannot check.
@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def sync_all_mailboxes() -> int:
    """Beat's entry point: one task per connected mailbox, so many workers share the load."""
    ids = mailboxes_to_sync()
    for mailbox_id in ids:
        transaction.on_commit(partial(sync_mailbox.delay, mailbox_id))
    return len(ids)


@shared_task(  # type: ignore[untyped-decorator]
    ignore_result=True,
    acks_late=True,
    soft_time_limit=settings.MAILSYNC_LEASE_SECONDS - 60,
    time_limit=settings.MAILSYNC_LEASE_SECONDS - 30,
    # A dropped database connection: again on a new one (Celery's Django fix-up closes the
    # broken one before each run), after 1, 2, 4… seconds, up to a minute apart.
    autoretry_for=CONNECTION_LOST,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=6,
)
def sync_mailbox(mailbox_id: int) -> None:
    # Temporary provider errors are retried inside the run and otherwise wait for the next
    # beat round; the lease keeps a second worker off this mailbox meanwhile. The round
    # logs its own line (mailsync.rounds).
    if mailbox_sync(mailbox_id=mailbox_id).more:
        # A backlog bigger than one round (MAILSYNC_ROUND_MAX_MESSAGES): the rest queues
        # behind the rounds already waiting, so one huge mailbox never starves the others.
        sync_mailbox.apply_async((mailbox_id,))


@shared_task(ignore_result=True, time_limit=600)  # type: ignore[untyped-decorator]
def clean_up_draft_attachments() -> int:
    """Beat, daily: files kept from refused compose forms that nobody came back for."""
    return draft_attachments_clean_up()


@shared_task(  # type: ignore[untyped-decorator]
    ignore_result=True,
    # Acknowledged only once run: a worker killed mid-way leaves the message to be
    # delivered again, and the job's checkpoint says where to go on.
    acks_late=True,
    soft_time_limit=settings.MAILSYNC_IMPORT_SLICE_SECONDS + settings.MAILSYNC_IMPORT_LEASE_SECONDS,
    time_limit=settings.MAILSYNC_IMPORT_SLICE_SECONDS + 2 * settings.MAILSYNC_IMPORT_LEASE_SECONDS,
    # As sync_mailbox: a dropped database connection runs the slice again on a new one.
    autoretry_for=CONNECTION_LOST,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=6,
)
def run_import_job(job_id: str) -> None:
    outcome = candidate_import_run(job_id=job_id)
    if outcome.again_in is not None:
        # A slice of time used up, or the provider asked to slow down: a fresh task goes on.
        run_import_job.apply_async((job_id,), countdown=outcome.again_in)


@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def resume_import_jobs() -> int:
    """Beat's sweep for import jobs a killed worker left behind (its lease ran out)."""
    return import_jobs_resume()


@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def apply_retention_everywhere() -> int:
    """Beat, daily at a quiet hour: one retention task per organisation."""
    ids = organisations_for_retention()
    for organisation_id in ids:
        transaction.on_commit(partial(apply_retention.delay, organisation_id))
    return len(ids)


@shared_task(ignore_result=True, acks_late=True, time_limit=3600)  # type: ignore[untyped-decorator]
def apply_retention(organisation_id: int) -> int:
    # Batches commit one by one: a run cut short leaves the rest for the next (idempotent).
    return retention_sweep(organisation_id=organisation_id).removed


@shared_task(  # type: ignore[untyped-decorator]
    ignore_result=True,
    # As imports: acknowledged once run, the checkpoint says where to go on.
    acks_late=True,
    soft_time_limit=settings.MAILSYNC_IMPORT_SLICE_SECONDS + settings.MAILSYNC_IMPORT_LEASE_SECONDS,
    time_limit=settings.MAILSYNC_IMPORT_SLICE_SECONDS + 2 * settings.MAILSYNC_IMPORT_LEASE_SECONDS,
    # As sync_mailbox: a dropped database connection runs the slice again on a new one.
    autoretry_for=CONNECTION_LOST,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=6,
)
def run_ingestion_job(job_id: int) -> None:
    outcome = ingestion_run(job_id=job_id)
    if outcome.again_in is not None:
        run_ingestion_job.apply_async((job_id,), countdown=outcome.again_in)


@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def resume_ingestion_jobs() -> int:
    """Beat's sweep for ingestion jobs a killed worker left behind (its lease ran out)."""
    return ingestion_jobs_resume()


@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_sync_leases() -> int:
    """Beat: free the leases of workers that stopped mid-round (see sync_leases_sweep)."""
    return sync_leases_sweep()
