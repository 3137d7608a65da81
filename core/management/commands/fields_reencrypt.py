from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.encryption import FIELDS_REENCRYPT_BATCH, encrypted_fields_reencrypt


class Command(BaseCommand):
    help = (
        "After a key rotation (the new key first in FIELD_ENCRYPTION_KEY), rewrite every "
        "encrypted database field under the first key, the start-up check's canary row "
        "included. Safe to stop and run again: values already under it are left as they "
        "are. Exits non-zero when a value is readable with no configured key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count; rewrite nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=FIELDS_REENCRYPT_BATCH,
            metavar="N",
            help="Rows read, and rewritten in one transaction, at a time (default: %(default)s).",
        )

    def handle(self, *args: object, dry_run: bool, batch_size: int, **options: object) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size takes a number of rows, 1 or more.")
        reports = encrypted_fields_reencrypt(batch_size=batch_size, dry_run=dry_run)
        verb = "would be rewritten" if dry_run else "rewritten"
        for report in reports:
            self.stdout.write(
                f"{report.field}: {report.rewritten} {verb} under the first key, "
                f"{report.current} already under it, {report.unreadable} readable with no "
                f"configured key, {report.changed_meanwhile} changed while rewritten"
            )
        unreadable = sum(report.unreadable for report in reports)
        if unreadable:
            # Non-zero, so that no one drops an old key that something still needs.
            raise CommandError(
                f"{unreadable} values are readable with no configured key (logged by id): "
                "they were left as they are. Do not drop a key before they are dealt with."
            )
