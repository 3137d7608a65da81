from accounts.models import Organisation, User
from mailsync.models import MailboxConnection


def mailbox_for(*, user: User) -> MailboxConnection | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return MailboxConnection.objects.select_related("organisation").filter(user=user).first()


def mailboxes_to_sync(*, user_email: str = "") -> list[int]:
    """The mailboxes `mailbox_status` lets us read, asked of the database."""
    full = Organisation.SyncLevel.FULL
    mailboxes = MailboxConnection.objects.filter(
        state=MailboxConnection.State.CONNECTED,
        sync_level=full,
        organisation__email_sync_level=full,
    )
    if user_email:
        mailboxes = mailboxes.filter(user__email__iexact=user_email)
    return list(mailboxes.order_by("last_synced_at", "pk").values_list("pk", flat=True))
