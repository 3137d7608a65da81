import logging
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction

from mailsync.selectors import mailboxes_to_sync
from mailsync.services import mailbox_sync

logger = logging.getLogger(__name__)


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
)
def sync_mailbox(mailbox_id: int) -> None:
    # Temporary provider errors are retried inside the run and otherwise wait for the next
    # beat round; the lease keeps a second worker off this mailbox meanwhile.
    report = mailbox_sync(mailbox_id=mailbox_id)
    logger.info(
        "Mailbox %s: %s, %d seen, %d of interest, %d stored",
        mailbox_id,
        report.status,
        report.seen,
        report.of_interest,
        report.stored,
    )
