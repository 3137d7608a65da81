import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("threadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _verify_field_encryption_key(**kwargs) -> None:
    from core.encryption import verify_at_startup

    verify_at_startup()
