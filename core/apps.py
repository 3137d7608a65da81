from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import checks  # noqa: F401 (registers the deployment checks)
        from core.encryption import verify_key_on_first_connection

        connection_created.connect(verify_key_on_first_connection, dispatch_uid="field-key-check")

        from core.metrics import QueueDepthCollector, register_scrape_time_collector

        register_scrape_time_collector(QueueDepthCollector())

        post_migrate.connect(_schedule_upkeep, sender=self, dispatch_uid="core-beat")


def _schedule_upkeep(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """Keep beat's database schedule in step: the daily sweep of orphaned attachment files."""
    from core.attachment_storage import SWEEP_AT_UTC
    from core.beat import daily_task_ensure

    daily_task_ensure(
        name="core: remove orphaned attachment files",
        task="core.tasks.sweep_attachment_blobs",
        at_utc=SWEEP_AT_UTC,
        using=using,
    )
