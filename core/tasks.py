from celery import shared_task

from core.attachment_storage import attachment_blobs_sweep


# Its own limits: the project's default soft limit (CELERY_TASK_SOFT_TIME_LIMIT) would cut
# a large bucket's listing short every day, and each run starts from the beginning.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=3500, time_limit=3600)
def sweep_attachment_blobs() -> int:
    """Beat, daily: orphaned attachment files older than the grace period are removed.
    Idempotent: a run cut short leaves the rest to the next."""
    return attachment_blobs_sweep().orphans
