from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailsync.selectors import mailboxes_to_sync
from mailsync.services import mailbox_sync
from mailsync.tasks import sync_mailbox


class Command(BaseCommand):
    help = "Sync connected mailboxes now (in this process), or queue them with --enqueue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", default="", help="Only the mailbox of this user (email).")
        parser.add_argument(
            "--enqueue", action="store_true", help="Queue one Celery task per mailbox instead."
        )

    def handle(self, *args: object, user: str, enqueue: bool, **options: object) -> None:
        ids = mailboxes_to_sync(user_email=user)
        if not ids:
            self.stdout.write("No connected mailbox to sync.")
            return
        failed: list[int] = []
        for mailbox_id in ids:
            if enqueue:
                sync_mailbox.delay(mailbox_id)
                self.stdout.write(f"mailbox {mailbox_id}: queued")
                continue
            try:
                report = mailbox_sync(mailbox_id=mailbox_id)
            except Exception as error:  # one mailbox's trouble never stops the others
                failed.append(mailbox_id)
                self.stderr.write(f"mailbox {mailbox_id}: failed ({type(error).__name__})")
                continue
            if report.status == "failed":
                failed.append(mailbox_id)
            line = (
                f"mailbox {mailbox_id}: {report.status}; {report.seen} new, "
                f"{report.header_checks} header checks, {report.of_interest} of interest, "
                f"{report.stored} stored"
            )
            if report.recovered:
                line += "; recovered an expired cursor"
            if report.skipped:
                line += f"; {report.skipped} unreadable, skipped"
            if report.error:
                line += f"; {report.error}"
            self.stdout.write(line)
        if failed:
            # Every mailbox was tried; the exit status tells cron that some failed.
            raise CommandError(f"{len(failed)} of {len(ids)} mailboxes failed: {failed}")
