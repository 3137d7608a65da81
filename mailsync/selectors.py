from accounts.models import User
from mailsync.models import MailboxConnection


def mailbox_for(*, user: User) -> MailboxConnection | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return MailboxConnection.objects.filter(user=user).first()


def sending_mailbox(*, user: User) -> MailboxConnection | None:
    """The user's own mailbox if Threadline may send from it now."""
    mailbox = mailbox_for(user=user)
    return mailbox if mailbox and mailbox.state == MailboxConnection.State.CONNECTED else None


def mailboxes_to_sync(*, user_email: str = "") -> list[int]:
    connections = MailboxConnection.objects.filter(state=MailboxConnection.State.CONNECTED)
    if user_email:
        connections = connections.filter(user__email__iexact=user_email)
    return list(connections.order_by("last_synced_at", "pk").values_list("pk", flat=True))
