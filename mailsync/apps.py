from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MailsyncConfig(AppConfig):
    name = "mailsync"
    verbose_name = "Mail sync"

    def ready(self) -> None:
        post_migrate.connect(_schedule_sync, sender=self, dispatch_uid="mailsync-beat")


def _schedule_sync(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """Keep beat's database schedule in step with MAILSYNC_INTERVAL_SECONDS."""
    from django.conf import settings

    from core.beat import periodic_task_ensure

    periodic_task_ensure(
        name="mailsync: sync all mailboxes",
        task="mailsync.tasks.sync_all_mailboxes",
        every_seconds=settings.MAILSYNC_INTERVAL_SECONDS,
        using=using,
    )
