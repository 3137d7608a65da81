from django.core.management.base import BaseCommand, CommandError, CommandParser

from interviews.selectors import calendars_to_sync
from interviews.services import calendar_sync
from interviews.tasks import sync_calendar


class Command(BaseCommand):
    help = (
        "Read back Threadline's interview events from the calendars that hold them, now (in "
        "this process), or queue them with --enqueue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue", action="store_true", help="Queue one Celery task per calendar instead."
        )

    def handle(self, *args: object, enqueue: bool, **options: object) -> None:
        ids = calendars_to_sync()
        if not ids:
            self.stdout.write("No calendar holds an interview to follow.")
            return
        failed: list[int] = []
        for connection_id in ids:
            if enqueue:
                sync_calendar.delay(connection_id)
                self.stdout.write(f"calendar {connection_id}: queued")
                continue
            report = calendar_sync(connection_id=connection_id)
            if report.status == "failed":
                failed.append(connection_id)
            self.stdout.write(
                f"calendar {connection_id}: {report.status}; {report.seen} events of ours, "
                f"{report.updated} updated, {report.deleted} deleted"
                + (f" ({report.error})" if report.error else "")
            )
        if failed:
            raise CommandError(f"{len(failed)} calendar(s) failed: {failed}")
