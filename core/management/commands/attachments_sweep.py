from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.attachment_storage import ORPHAN_GRACE, attachment_blobs_sweep


class Command(BaseCommand):
    help = (
        "Remove attachment files that no row names and that are older than the grace "
        "period (what beat does daily), or count them with --dry-run. Rows whose file is "
        "missing are counted and logged by id, never changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the orphans; remove nothing."
        )
        parser.add_argument(
            "--older-than",
            type=float,
            default=ORPHAN_GRACE / timedelta(hours=1),
            metavar="HOURS",
            help="Only files last modified this many hours ago or more (default: %(default)s).",
        )

    def handle(self, *args: object, dry_run: bool, older_than: float, **options: object) -> None:
        if older_than < 0:
            raise CommandError("--older-than takes a number of hours, 0 or more.")
        report = attachment_blobs_sweep(older_than=timedelta(hours=older_than), dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        self.stdout.write(
            f"{report.files} files: {verb} {report.orphans} orphans older than {older_than:g} "
            f"hours, kept {report.recent_unreferenced} unreferenced newer ones; "
            f"{report.missing} rows miss their file (logged by id)"
        )
