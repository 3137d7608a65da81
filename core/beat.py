"""Beat's schedule lives in the database (django-celery-beat); apps keep their entries in
step with settings after each migrate."""

from django_celery_beat.models import IntervalSchedule, PeriodicTask


def periodic_task_ensure(*, name: str, task: str, every_seconds: int, using: str = "default"):
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every_seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.using(using).update_or_create(
        name=name, defaults={"task": task, "interval": interval, "enabled": True}
    )
