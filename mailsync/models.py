import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedCharField, EncryptedTextField

from accounts.models import Organisation
from candidates.models import Candidate, EmailMessage, EmailThread


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
    # When the tokens were last dropped (disconnect, a level or provider change, a seat
    # released, a grant revoked or expired at the provider): re-authorizing within six
    # months resumes from the cursor kept here.
    deauthorized_at = models.DateTimeField(null=True, blank=True)
    # What Threadline uses this connection for: the user's Email, Calendar and Contacts
    # boxes once the provider granted their scopes. One grant serves all three (Google
    # revokes grants as a whole), so unticking one box stops its use, not the grant.
    uses_email = models.BooleanField(default=True)
    uses_calendar = models.BooleanField(default=False)
    uses_contacts = models.BooleanField(default=False)
    # Calendar sync: when Threadline last read its own events, and the problem if it failed.
    calendar_synced_at = models.DateTimeField(null=True, blank=True)
    calendar_last_error = models.CharField(max_length=500, blank=True)
    # Our own label (Gmail) or category (Outlook), created once per mailbox.
    label_id = models.CharField(max_length=200, blank=True)

    # Sync progress. The cursor only moves after everything it covers is committed.
    cursor = models.CharField(max_length=2000, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    messages_synced = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Sync health (Settings > Sync health): since when every round has failed (cleared by
    # the next success), and until when the provider asked us to wait (429 Retry-After);
    # beat leaves a throttled mailbox alone until then.
    failing_since = models.DateTimeField(null=True, blank=True)
    throttled_until = models.DateTimeField(null=True, blank=True)
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


class RemovedMessage(models.Model):
    """A tombstone: a message a user removed from Threadline, so that no later sync,
    import or routed copy brings it back. Keyed by the Message-ID's keyed digest (any
    copy, in any mailbox or by routing) and, where it was found in a mailbox, by that
    mailbox's provider id (checked before anything is fetched). Holds no content."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    message_id_digest = models.CharField(max_length=64)
    mailbox = models.ForeignKey(
        MailboxConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    provider_message_id = models.CharField(max_length=500, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    removed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "message_id_digest"]),
            models.Index(fields=["mailbox", "provider_message_id"]),
        ]

    def __str__(self) -> str:
        return f"Removed message {self.message_id_digest[:12]} of {self.candidate_id}"


class ImportJob(models.Model):
    """ "Import candidate email" for one (user, candidate), run by a worker: its progress,
    its checkpoint (so a restarted worker resumes) and its outcome. Counts only."""

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Importing"
        CANCELLED = "cancelled", "Cancelled"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(
        MailboxConnection, on_delete=models.CASCADE, related_name="import_jobs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The user confirmed that mail they (or others) removed from Threadline comes back.
    include_removed = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    found = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    already_there = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    removed_kept_out = models.PositiveIntegerField(default=0)
    threads = models.PositiveIntegerField(default=0)
    # Where to go on: which address and provider page token, and the ids still to fetch.
    checkpoint = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "candidate"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_active_import_per_user_and_candidate",
            )
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.get_state_display()})"


class DraftAttachment(models.Model):
    """A file chosen in a compose form that has not been sent yet, kept when the server
    refuses the form (size, provider, a field error) so the user does not pick it again.
    Removed when the message is sent, and by the daily clean-up after a day."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = EncryptedCharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveIntegerField()
    # The encrypted bytes' name in the "attachments" storage, as for EmailAttachment.blob;
    # the file goes with the row (mailsync.apps); indexed for the sweep, as that one.
    blob = models.CharField(max_length=100, editable=False, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Draft attachment {self.pk} ({self.size} bytes)"


class IngestionJob(models.Model):
    """Automatic ingestion of one mailbox: its one-on-one threads with the organisation's
    candidates from a year before authorization, active in the last six months. Counts and
    a checkpoint only, never content, so a worker restart resumes where it stopped."""

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Running"
        DONE = "done", "Finished"
        FAILED = "failed", "Stopped"
        CANCELLED = "cancelled", "Cancelled"

    mailbox = models.ForeignKey(
        MailboxConnection, on_delete=models.CASCADE, related_name="ingestion_jobs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The window: messages sent or received from `since` on, in threads with a message
    # after `active_since`.
    since = models.DateTimeField()
    active_since = models.DateTimeField()
    found = models.PositiveIntegerField(default=0)
    ingested = models.PositiveIntegerField(default=0)
    messages_ingested = models.PositiveIntegerField(default=0)
    already_there = models.PositiveIntegerField(default=0)
    # Threads left out, one count per rule (the first rule a thread breaks).
    skipped_group = models.PositiveIntegerField(default=0)
    skipped_own_domain = models.PositiveIntegerField(default=0)
    skipped_not_candidate = models.PositiveIntegerField(default=0)
    skipped_inactive = models.PositiveIntegerField(default=0)
    skipped_unreadable = models.PositiveIntegerField(default=0)
    checkpoint = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_running_ingestion_per_mailbox",
            )
        ]

    def __str__(self) -> str:
        return f"Ingestion {self.pk} of {self.mailbox_id} ({self.state})"


class RetiredThread(models.Model):
    """A thread that retention removed (no message either way for the organisation's
    retention period), remembered by its id only: the id its signed references carry.
    A reply that cites it later is stored again, in a thread that comes back under the
    same id with only the new messages (`ingest.thread_for_references`). Not a tombstone:
    nothing is kept out. Holds no content: which candidate, whose thread, and when."""

    thread_id = models.UUIDField(unique=True)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    retired_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Retired thread {self.thread_id} of {self.candidate_id}"
