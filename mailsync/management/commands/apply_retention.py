from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailsync.selectors import organisations_for_retention
from mailsync.services import retention_sweep


class Command(BaseCommand):
    help = (
        "Remove threads with no message sent or received for each organisation's retention "
        "period now (what beat does daily), or count them with --dry-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", default="", help="Only this organisation (slug).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the threads due; remove nothing."
        )

    def handle(self, *args: object, organisation: str, dry_run: bool, **options: object) -> None:
        ids = organisations_for_retention(slug=organisation)
        if organisation and not ids:
            raise CommandError(f"No organisation with the slug {organisation!r}.")
        for organisation_id in ids:
            report = retention_sweep(organisation_id=organisation_id, dry_run=dry_run)
            verb = "would remove" if dry_run else "removed"
            self.stdout.write(
                f"organisation {organisation_id}: {verb} {report.removed} threads with no "
                f"message since {report.cutoff:%Y-%m-%d %H:%M} UTC ({report.months} months)"
            )
