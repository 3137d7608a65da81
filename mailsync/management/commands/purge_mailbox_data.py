from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Organisation
from mailsync.services import organisation_purge_mailbox_data


class Command(BaseCommand):
    help = (
        "Suspension: delete everything Threadline derived from an organisation's mailboxes "
        "and calendars (mail, attachments, tombstones, tokens, cursors, jobs) and revoke its "
        "tokens. Candidates, users and postings stay. Asks for the slug unless --yes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", required=True, help="The organisation's slug.")
        parser.add_argument(
            "--yes",
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(
        self, *args: object, organisation: str, interactive: bool, **options: object
    ) -> None:
        found = Organisation.objects.filter(slug=organisation).first()
        if found is None:
            raise CommandError(f"No organisation with the slug {organisation!r}.")
        if interactive:
            self.stdout.write(
                f"This deletes every email, attachment, token and sync record of "
                f"{found.name} ({found.slug}) and cannot be undone."
            )
            try:
                answer = input("Type the organisation's slug to confirm: ")
            except EOFError:
                answer = ""
            if answer.strip() != found.slug:
                raise CommandError("Not confirmed; nothing was purged.")
        counts = organisation_purge_mailbox_data(
            actor=None, organisation=found, via="manage.py purge_mailbox_data"
        )
        for label, deleted in counts.items():
            self.stdout.write(f"{label}: {deleted}")
        self.stdout.write(f"Purged the mailbox data of {found.slug}; tokens revoked.")
