import logging
from functools import partial

from celery import shared_task
from django.db import transaction

from interviews.selectors import calendars_to_sync
from interviews.services import calendar_sync

logger = logging.getLogger(__name__)


# Celery ships no type information (see mailsync/tasks.py).
@shared_task(ignore_result=True)  # type: ignore[untyped-decorator]
def sync_all_calendars() -> int:
    """Beat's entry point: one task per calendar holding interviews we still follow."""
    ids = calendars_to_sync()
    for connection_id in ids:
        transaction.on_commit(partial(sync_calendar.delay, connection_id))
    return len(ids)


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)  # type: ignore[untyped-decorator]
def sync_calendar(connection_id: int) -> None:
    # Failures are recorded on the connection and wait for the next beat round.
    report = calendar_sync(connection_id=connection_id)
    logger.info(
        "Calendar of connection %s: %s, %d seen, %d updated, %d deleted",
        connection_id,
        report.status,
        report.seen,
        report.updated,
        report.deleted,
    )
