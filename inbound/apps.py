from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = "Inbound mail"

    def ready(self) -> None:
        post_migrate.connect(_schedule_pruning, sender=self, dispatch_uid="inbound-beat")


def _schedule_pruning(sender, using="default", **kwargs) -> None:
    from core.beat import periodic_task_ensure

    periodic_task_ensure(
        name="inbound: forget expired webhook tokens",
        task="inbound.tasks.forget_expired_webhook_tokens",
        every_seconds=600,
        using=using,
    )
