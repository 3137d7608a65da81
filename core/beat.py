"""Beat's schedule lives in the database (django-celery-beat); apps keep their entries in
step with settings after each migrate."""

from datetime import time

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def periodic_task_ensure(*, name: str, task: str, every_seconds: int, using: str = "default"):
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every_seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.using(using).update_or_create(
        name=name, defaults={"task": task, "interval": interval, "crontab": None, "enabled": True}
    )


def daily_task_ensure(*, name: str, task: str, at_utc: time, using: str = "default"):
    """A task beat runs once a day at a fixed time (UTC), rather than every so often."""
    crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
        minute=str(at_utc.minute),
        hour=str(at_utc.hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.using(using).update_or_create(
        name=name, defaults={"task": task, "crontab": crontab, "interval": None, "enabled": True}
    )
