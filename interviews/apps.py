from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InterviewsConfig(AppConfig):
    name = "interviews"
    verbose_name = "Interviews"

    def ready(self) -> None:
        post_migrate.connect(_schedule_sync, sender=self, dispatch_uid="interviews-beat")


def _schedule_sync(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """Keep beat's database schedule in step with INTERVIEWS_CALENDAR_SYNC_SECONDS."""
    from django.conf import settings

    from core.beat import periodic_task_ensure

    periodic_task_ensure(
        name="interviews: sync calendars",
        task="interviews.tasks.sync_all_calendars",
        every_seconds=settings.INTERVIEWS_CALENDAR_SYNC_SECONDS,
        using=using,
    )
