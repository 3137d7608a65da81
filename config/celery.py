import os

from celery import Celery
from celery.signals import beat_init, worker_init
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("threadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Separate queues, so that a backlog of one kind of work never holds up another: a big
# import does not delay every mailbox's sync, nor calendar sync behind both. Each is named
# after the default queue (CELERY_TASK_DEFAULT_QUEUE, "celery" unless set): "celery.sync"
# and so on; maintenance (beat's sweeps, retention, clean-ups) stays on the default queue.
# A worker started without -Q consumes them all (the demo's); in production run workers
# per queue (README, "Running on several machines"). The inbound webhook stores mail in
# its request, so it has no queue of its own.
QUEUE_OF_TASK = {
    "mailsync.tasks.sync_all_mailboxes": "sync",
    "mailsync.tasks.sync_mailbox": "sync",
    "mailsync.tasks.run_import_job": "import",
    "mailsync.tasks.run_ingestion_job": "import",
    "interviews.tasks.sync_all_calendars": "calendar",
    "interviews.tasks.sync_calendar": "calendar",
}
QUEUE_KINDS = ("sync", "import", "calendar")


def queue_names(default: str) -> list[str]:
    """Every queue Threadline's tasks go to, for a default queue named `default`."""
    return [default, *(f"{default}.{kind}" for kind in QUEUE_KINDS)]


def route_task(name: str, *args: object, **kwargs: object) -> dict[str, str] | None:
    # Read when each task is sent, so that a changed default queue (tests give each run
    # its own) takes its kinds with it.
    kind = QUEUE_OF_TASK.get(name)
    if kind is None:
        return None
    queue = f"{app.conf.task_default_queue}.{kind}"
    return {"queue": queue, "exchange": queue, "routing_key": queue}


app.conf.task_routes = (route_task,)
app.conf.task_queues = [
    # Each queue on its own direct exchange and key: named alone, a queue would be bound
    # to the default exchange and key, and the broker would deliver it to the default one.
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in queue_names(app.conf.task_default_queue)
]


@worker_init.connect
@beat_init.connect
def _verify_field_encryption_key(**kwargs) -> None:
    from core.encryption import verify_at_startup

    verify_at_startup()
