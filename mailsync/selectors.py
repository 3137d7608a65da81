from accounts.models import Organisation, User
from mailsync.models import MailboxConnection, SkippedMessage, SyncedMessage


def mailbox_for(*, user: User) -> MailboxConnection | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        MailboxConnection.objects.select_related("organisation", "user").filter(user=user).first()
    )


def mailboxes_to_sync(*, user_email: str = "") -> list[int]:
    """The mailboxes `mailbox_status` lets us read, asked of the database."""
    full = Organisation.SyncLevel.FULL
    mailboxes = MailboxConnection.objects.filter(
        state=MailboxConnection.State.CONNECTED,
        user__is_active=True,
        sync_level=full,
        organisation__email_sync_level=full,
    )
    if user_email:
        mailboxes = mailboxes.filter(user__email__iexact=user_email)
    return list(mailboxes.order_by("last_synced_at", "pk").values_list("pk", flat=True))


def messages_already_handled(
    *, mailbox: MailboxConnection, provider_message_ids: list[str]
) -> set[str]:
    """Which of these provider messages were stored, or skipped as unreadable, before: a
    message is handled once, whatever happened to it."""
    stored = SyncedMessage.objects.filter(
        mailbox=mailbox, provider_message_id__in=provider_message_ids
    ).values_list("provider_message_id", flat=True)
    skipped = SkippedMessage.objects.filter(
        mailbox=mailbox, provider_message_id__in=provider_message_ids
    ).values_list("provider_message_id", flat=True)
    return set(stored) | set(skipped)
