from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MailsyncConfig(AppConfig):
    name = "mailsync"
    verbose_name = "Mail sync"

    def ready(self) -> None:
        post_migrate.connect(_schedule_sync, sender=self, dispatch_uid="mailsync-beat")


def _schedule_sync(sender, using="default", **kwargs) -> None:
    """Keep beat's database schedule in step with MAILSYNC_INTERVAL_SECONDS."""
    from django.conf import settings
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = settings.MAILSYNC_INTERVAL_SECONDS
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.using(using).update_or_create(
        name="mailsync: sync all mailboxes",
        defaults={
            "task": "mailsync.tasks.sync_all_mailboxes",
            "interval": interval,
            "enabled": True,
        },
    )
