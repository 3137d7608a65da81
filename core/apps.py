from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core.encryption import verify_key_on_first_connection

        connection_created.connect(verify_key_on_first_connection, dispatch_uid="field-key-check")

        from core.metrics import QueueDepthCollector, register_scrape_time_collector

        register_scrape_time_collector(QueueDepthCollector())
