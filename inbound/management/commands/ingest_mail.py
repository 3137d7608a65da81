import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inbound.services import message_receive

# sysexits.h: Postfix and Exim bounce on EX_DATAERR and retry later on EX_TEMPFAIL.
EX_DATAERR = 65


class Command(BaseCommand):
    help = (
        "Receive one routed message (RFC 5322) on standard input, as Postfix or Exim pipe "
        "it: the same checks and storage as the Mailgun webhook."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipient",
            required=True,
            help="The envelope recipient, an organisation's inbound address "
            "(Postfix: ${recipient}, Exim: $local_part@$domain).",
        )

    def handle(self, *args, recipient: str, **options):
        # Read one byte past the limit: enough to know it is too large, never more.
        raw = sys.stdin.buffer.read(settings.INBOUND_MAX_MESSAGE_BYTES + 1)
        received = message_receive(raw=raw, recipient=recipient)
        line = f"{received.outcome}: {received.reason}"
        if received.outcome == "refused":
            # Non-zero so the mail server bounces rather than silently losing it.
            raise CommandError(line, returncode=EX_DATAERR)
        self.stdout.write(line)
