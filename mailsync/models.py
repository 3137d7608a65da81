from django.conf import settings
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedTextField

from accounts.models import Organisation
from candidates.models import EmailMessage, EmailThread


class MailboxConnection(models.Model):
    """A user's authorized mailbox: tokens, sync cursor and health, all on one row."""

    class Provider(models.TextChoices):
        GOOGLE = "google", "Google Workspace"
        MICROSOFT = "microsoft", "Microsoft 365"

    class State(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs re-authorization"
        DISCONNECTED = "disconnected", "Disconnected"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mailbox"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    account_address = models.EmailField()
    granted_scopes = models.JSONField(default=list)
    # The organisation's sync level when the user authorized: what these tokens may do.
    # Limited (send-only) connections are never synced; a level change asks for new ones.
    sync_level = models.CharField(
        max_length=16, choices=Organisation.SyncLevel.choices, default=Organisation.SyncLevel.FULL
    )
    # The provider's token set (access, refresh, expiry) as JSON, encrypted at rest.
    credentials = EncryptedTextField()
    state = models.CharField(max_length=32, choices=State.choices, default=State.CONNECTED)
    authorized_at = models.DateTimeField(default=timezone.now)
    # Our own label (Gmail) or category (Outlook), created once per mailbox.
    label_id = models.CharField(max_length=200, blank=True)

    # Sync progress. The cursor only moves after everything it covers is committed.
    cursor = models.CharField(max_length=2000, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    messages_synced = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # A lease rather than a lock: a crashed worker's claim simply expires.
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    sync_claim = models.CharField(max_length=64, blank=True)
    # The same kind of lease for refreshing the access token, so that one refresh serves
    # every worker (Microsoft rotates refresh tokens) without holding a transaction open.
    token_refresh_claimed_until = models.DateTimeField(null=True, blank=True)
    token_refresh_claim = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["account_address"]

    def __str__(self) -> str:
        return f"{self.account_address} ({self.get_provider_display()})"


class MailboxThread(models.Model):
    """Where a Threadline thread lives in one mailbox (Gmail threadId / Graph conversationId).

    Rows exist only for threads of interest, so a provider thread id found here makes a new
    message of interest with no further call."""

    mailbox = models.ForeignKey(MailboxConnection, on_delete=models.CASCADE, related_name="threads")
    thread = models.ForeignKey(EmailThread, on_delete=models.CASCADE, related_name="mailboxes")
    provider_thread_id = models.CharField(max_length=500)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "provider_thread_id"], name="one_thread_per_provider_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_thread_id} in {self.mailbox_id}"


class SyncedMessage(models.Model):
    """A message of interest as seen in one mailbox; makes re-running a sync idempotent."""

    mailbox = models.ForeignKey(
        MailboxConnection, on_delete=models.CASCADE, related_name="synced_messages"
    )
    message = models.ForeignKey(
        EmailMessage, on_delete=models.CASCADE, related_name="mailbox_copies"
    )
    provider_message_id = models.CharField(max_length=500)
    labelled = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "provider_message_id"], name="one_copy_per_provider_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_message_id} in {self.mailbox_id}"


class SkippedMessage(models.Model):
    """A message of interest that could not be read or stored. Recorded so that it never
    blocks the messages, rounds or mailboxes after it, and so that its owner and admins
    see that something is missing. Only the provider's id and a reason: never content."""

    mailbox = models.ForeignKey(
        MailboxConnection, on_delete=models.CASCADE, related_name="skipped_messages"
    )
    provider_message_id = models.CharField(max_length=500)
    reason = models.CharField(max_length=200)
    skipped_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "provider_message_id"], name="one_skip_per_provider_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_message_id} in {self.mailbox_id}: {self.reason}"


class PendingAuthorization(models.Model):
    """OAuth `state` and the secret flow state (PKCE verifier; for Microsoft also the
    nonce) between the redirect to the provider and its callback."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=MailboxConnection.Provider.choices)
    state = models.CharField(max_length=200, unique=True)
    flow_state = EncryptedTextField()
    scopes = models.JSONField(default=list)
    sync_level = models.CharField(
        max_length=16, choices=Organisation.SyncLevel.choices, default=Organisation.SyncLevel.FULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Authorization for {self.user_id} started {self.created_at:%Y-%m-%d %H:%M}"
