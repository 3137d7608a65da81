from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MailsyncConfig(AppConfig):
    name = "mailsync"
    verbose_name = "Mail sync"

    def ready(self) -> None:
        from core.attachment_storage import attachment_blob_model_register
        from mailsync.models import DraftAttachment

        post_migrate.connect(_schedule_sync, sender=self, dispatch_uid="mailsync-beat")
        attachment_blob_model_register(DraftAttachment)

        from core.metrics import register_scrape_time_collector
        from mailsync.metrics import MailboxStateCollector

        register_scrape_time_collector(MailboxStateCollector())


def _schedule_sync(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """Keep beat's database schedule in step with the settings: mailbox sync and the
    sweeps that resume import and ingestion jobs a stopped worker left
    (MAILSYNC_INTERVAL_SECONDS), the daily clean-up of kept draft attachments, and the
    daily retention run at a quiet hour."""
    from django.conf import settings

    from core.beat import daily_task_ensure, periodic_task_ensure
    from mailsync.retention import RUN_AT_UTC

    periodic_task_ensure(
        name="mailsync: sync all mailboxes",
        task="mailsync.tasks.sync_all_mailboxes",
        every_seconds=settings.MAILSYNC_INTERVAL_SECONDS,
        using=using,
    )
    periodic_task_ensure(
        name="mailsync: remove kept draft attachments older than a day",
        task="mailsync.tasks.clean_up_draft_attachments",
        every_seconds=24 * 60 * 60,
        using=using,
    )
    periodic_task_ensure(
        name="mailsync: resume import jobs a stopped worker left",
        task="mailsync.tasks.resume_import_jobs",
        every_seconds=settings.MAILSYNC_INTERVAL_SECONDS,
        using=using,
    )
    daily_task_ensure(
        name="mailsync: remove threads inactive for the retention period",
        task="mailsync.tasks.apply_retention_everywhere",
        at_utc=RUN_AT_UTC,
        using=using,
    )
    periodic_task_ensure(
        name="mailsync: free sync leases a stopped worker left",
        task="mailsync.tasks.sweep_sync_leases",
        every_seconds=settings.MAILSYNC_INTERVAL_SECONDS,
        using=using,
    )
    periodic_task_ensure(
        name="mailsync: resume ingestion jobs a stopped worker left",
        task="mailsync.tasks.resume_ingestion_jobs",
        every_seconds=settings.MAILSYNC_INTERVAL_SECONDS,
        using=using,
    )
