from accounts.models import Organisation, User
from mailsync.models import MailboxConnection


def mailbox_for(*, user: User) -> MailboxConnection | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return MailboxConnection.objects.select_related("organisation").filter(user=user).first()


def connected(mailbox: MailboxConnection | None) -> MailboxConnection | None:
    """`mailbox` if Threadline may send from it now."""
    return mailbox if mailbox and mailbox.state == MailboxConnection.State.CONNECTED else None


def mailboxes_to_sync(*, user_email: str = "") -> list[int]:
    full = Organisation.SyncLevel.FULL
    connections = MailboxConnection.objects.filter(
        state=MailboxConnection.State.CONNECTED,
        sync_level=full,
        organisation__email_sync_level=full,
    )
    if user_email:
        connections = connections.filter(user__email__iexact=user_email)
    return list(connections.order_by("last_synced_at", "pk").values_list("pk", flat=True))
