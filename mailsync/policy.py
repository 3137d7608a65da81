"""May Threadline read or send from a mailbox now, and if not, why. Every door asks here:
the sync engine and its tasks, sending, import, and the pages that offer those actions.

(Who may see a thread is candidates/policy.py; roles are accounts/policy.py.)
"""

from dataclasses import dataclass

from accounts.models import Organisation
from mailsync.models import MailboxConnection

CONNECT_TO_SEND = "Connect your mailbox under Settings › My account to send email."
CONNECT_TO_READ = "Connect your mailbox under Settings › My account to import email."
REAUTHORIZE = "Your mailbox needs re-authorization under Settings › My account."
OWNER_DEACTIVATED = "Its owner's account is deactivated: Threadline neither reads nor sends."
LIMITED_SYNC_NO_READING = (
    "Your organisation uses limited sync: Threadline has no permission to read mailboxes, "
    "so replies reach profiles through your mail admin's routing rule instead."
)


@dataclass(frozen=True)
class MailboxStatus:
    """What Threadline may do with a user's mailbox; each `why_not_*` is for that user."""

    may_send: bool
    may_read: bool
    why_not_send: str = ""
    why_not_read: str = ""


def mailbox_status(mailbox: MailboxConnection | None) -> MailboxStatus:
    """Sending needs a connected mailbox; reading also needs full sync, both in the tokens
    the user granted and in the organisation's current setting (a switch to limited sync
    asks every user to re-authorize, and reading stops at once, before they have)."""
    if mailbox is None or mailbox.state == MailboxConnection.State.DISCONNECTED:
        return MailboxStatus(False, False, CONNECT_TO_SEND, CONNECT_TO_READ)
    if not mailbox.user.is_active:
        # Someone who left: their mailbox is theirs, not the organisation's to keep reading.
        return MailboxStatus(False, False, OWNER_DEACTIVATED, OWNER_DEACTIVATED)
    if mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION:
        return MailboxStatus(False, False, REAUTHORIZE, REAUTHORIZE)
    full = Organisation.SyncLevel.FULL
    if mailbox.sync_level != full or mailbox.organisation.email_sync_level != full:
        return MailboxStatus(True, False, why_not_read=LIMITED_SYNC_NO_READING)
    return MailboxStatus(True, True)
