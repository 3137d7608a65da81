"""Beat's job as it runs in production: a real Celery worker, on the configured broker
(the embedded SQLite one, or Redis in CI's second run), syncs every connected mailbox."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from candidates.models import EmailMessage
from config.celery import app
from mailsync.sending import Draft
from mailsync.services import message_send
from mailsync.tasks import sync_all_mailboxes
from tests.mailsync.helpers import child_environment


def test_a_celery_worker_syncs_every_connected_mailbox(gmail_world):
    world = gmail_world
    world.connect()
    message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Hello", body_text="Hi"),
    )
    world.reply(world.candidate_box, world.recruiter.email, "Hello to you too")
    queue = f"threadline-test-{uuid.uuid4().hex[:8]}"
    celery = Path(sys.executable).parent / "celery"
    worker = subprocess.Popen(  # noqa: S603 (our own Celery app)
        # No -Q, as `make run` starts it: every queue named after its default one.
        [str(celery), "-A", "config", "worker", "--pool", "solo", "-l", "WARNING"],
        cwd=settings.BASE_DIR,
        env=child_environment(CELERY_TASK_DEFAULT_QUEUE=queue),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        sync_all_mailboxes.delay()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if EmailMessage.objects.filter(direction="inbound").exists():
                break
            time.sleep(0.25)
    finally:
        app.conf.task_default_queue = previous_queue
        worker.terminate()
        worker.wait(timeout=30)

    reply = EmailMessage.objects.get(direction="inbound")
    assert "Hello to you too" in reply.body_text


def test_sync_import_and_calendar_tasks_each_have_their_own_queue():
    from config.celery import queue_names

    def queue_of(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    default = app.conf.task_default_queue
    assert queue_of("mailsync.tasks.sync_mailbox") == f"{default}.sync"
    assert queue_of("mailsync.tasks.run_import_job") == f"{default}.import"
    assert queue_of("mailsync.tasks.run_ingestion_job") == f"{default}.import"
    assert queue_of("interviews.tasks.sync_calendar") == f"{default}.calendar"
    assert queue_of("mailsync.tasks.apply_retention") == default
    kinds = ("sync", "import", "calendar")
    assert queue_names(default) == [default, *(f"{default}.{kind}" for kind in kinds)]
    assert {queue.name for queue in app.conf.task_queues} == set(queue_names(default))
