import uuid

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedCharField, EncryptedTextField

from accounts.models import Organisation
from candidates.audit import Event


def _audit_data(candidate_id: uuid.UUID, event: Event) -> dict[str, str]:
    """The additional data that lets a profile's history find an entry by its candidate
    (candidates.audit.entries_for_candidate)."""
    return {"candidate": str(candidate_id), "event": event.value}


class Posting(models.Model):
    """A job opening. Its hiring team decides what Limited Team Members see."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="postings"
    )
    title = models.CharField(max_length=200)
    team = models.CharField(max_length=120, blank=True)
    location = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    hiring_team = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="hiring_for", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "title"], name="unique_posting_title")
        ]

    def __str__(self) -> str:
        return self.title


class Candidate(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="candidates"
    )
    full_name = models.CharField(max_length=200)
    headline = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=120, blank=True)
    postings = models.ManyToManyField(Posting, through="Application", related_name="candidates")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["organisation", "-updated_at"]),
            models.Index(fields=["organisation", "full_name"]),
        ]

    def __str__(self) -> str:
        return self.full_name

    def get_additional_data(self) -> dict[str, str]:
        """What django-auditlog stores with an entry about this candidate's fields."""
        return _audit_data(self.pk, Event.PROFILE_CHANGED)

    @property
    def primary_email(self) -> "CandidateEmail | None":
        emails = list(self.emails.all())
        return next((e for e in emails if e.is_primary), emails[0] if emails else None)


class CandidateEmail(models.Model):
    """One of a candidate's addresses, stored normalised; unique within an organisation so
    that mail to or from it maps to exactly one candidate."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="emails")
    address = models.EmailField(max_length=254)
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-is_primary", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "address"], name="unique_candidate_address_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.address

    def get_additional_data(self) -> dict[str, str]:
        return _audit_data(self.candidate_id, Event.ADDRESSES_CHANGED)


class Application(models.Model):
    """A candidate considered for a posting."""

    class Stage(models.TextChoices):
        NEW = "new", "New applicant"
        SCREEN = "screen", "Phone screen"
        INTERVIEW = "interview", "On-site interview"
        OFFER = "offer", "Offer"
        HIRED = "hired", "Hired"
        ARCHIVED = "archived", "Archived"

    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="applications")
    posting = models.ForeignKey(Posting, on_delete=models.CASCADE, related_name="applications")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NEW)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["candidate", "posting"], name="one_application_each")
        ]

    def __str__(self) -> str:
        return f"{self.candidate} → {self.posting}"

    def get_additional_data(self) -> dict[str, str]:
        return _audit_data(self.candidate_id, Event.STAGE_CHANGED)


class EmailThread(models.Model):
    """A conversation with a candidate as Threadline shows it.

    Subjects and everything else taken from mail are encrypted at rest. Who sees a thread
    is decided in candidates/policy.py: private to its owner by default; the owner may share
    it with everyone who can see the candidate, or make it secret (owner, participants,
    Super Admins and Admins).
    """

    class Origin(models.TextChoices):
        THREADLINE = "threadline", "Started in Threadline"
        IMPORTED = "imported", "Imported from a mailbox"
        INGESTED = "ingested", "Ingested automatically"

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private to me"
        TEAM = "team", "Everyone who can see the candidate"
        SECRET = "secret", "Secret (participants, Admins and Super Admins)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="threads")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="email_threads",
        help_text="Who started or imported the thread.",
    )
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.THREADLINE)
    subject = EncryptedCharField(max_length=998, blank=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    # Secrecy is set by one user (who keeps seeing the thread and may lift it) and, when
    # lifted, gives the thread back the visibility it had before.
    made_secret_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made the thread secret.",
    )
    visibility_before_secret = models.CharField(
        max_length=16, choices=Visibility.choices, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_message_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The newest message each way, kept with last_message_at, so that the candidate list
    # can say "replied, awaiting our answer" without reading messages.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at"]
        indexes = [models.Index(fields=["candidate", "-last_message_at"])]

    def __str__(self) -> str:
        return f"Thread {self.pk} with {self.candidate_id}"


class EmailMessage(models.Model):
    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Sent to the candidate"
        INBOUND = "inbound", "Received from the candidate"

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Not sent"
        SYNCED = "synced", "Synced"

    thread = models.ForeignKey(EmailThread, on_delete=models.CASCADE, related_name="messages")
    # A keyed hash of the Message-ID: unique per thread without storing the header in clear.
    message_id_digest = models.CharField(max_length=64)
    message_id = EncryptedCharField(max_length=998)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SYNCED)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The Threadline user who wrote it, when one did.",
    )
    from_header = EncryptedCharField(max_length=998)
    to_header = EncryptedTextField(blank=True)
    cc_header = EncryptedTextField(blank=True)
    subject = EncryptedCharField(max_length=998, blank=True)
    body_text = EncryptedTextField(blank=True)
    # The HTML part as received, kept for "Download original HTML"; never placed in a page.
    body_html = EncryptedTextField(blank=True)
    # What the Emails tab shows of it, cleaned once when the message was stored
    # (candidates.rendering.prepare_html_for_storage) and never cleaned again on a render.
    body_html_display = EncryptedTextField(blank=True)
    has_remote_images = models.BooleanField(
        default=False, help_text="Its HTML has images held back until the viewer loads them."
    )
    html_too_complex = models.BooleanField(
        default=False,
        help_text="Its HTML was over the size or nesting caps: shown as text, never cleaned.",
    )
    snippet = EncryptedCharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(db_index=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["sent_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["thread", "message_id_digest"], name="one_message_id_per_thread"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} at {self.sent_at:%Y-%m-%d %H:%M}"


class EmailAttachment(models.Model):
    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = EncryptedCharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveIntegerField()
    # The encrypted bytes live in the "attachments" storage (core.attachment_storage), not
    # in the database: this is their random name there. They go when the row goes, however
    # it is deleted (candidates.apps). Indexed for the daily orphan sweep, which reads the
    # names one top-level directory (a prefix) at a time.
    blob = models.CharField(max_length=100, editable=False, db_index=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Attachment {self.pk} ({self.size} bytes)"


class ThreadSeen(models.Model):
    """When a user last opened a thread: a newer reply from the candidate is unread."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(EmailThread, on_delete=models.CASCADE, related_name="seen_by")
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "thread"], name="one_seen_mark_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.thread_id} seen by {self.user_id} at {self.seen_at:%Y-%m-%d %H:%M}"


# Changes to what the profile shows, by whom and when (django-auditlog's middleware records
# the actor). These fields are the candidate's own details, not mail content; creating a
# candidate is logged too, so a profile's history starts with who added them.
auditlog.register(Candidate, include_fields=["full_name", "headline", "location"])
auditlog.register(CandidateEmail, include_fields=["address", "is_primary"])
auditlog.register(Application, include_fields=["posting", "stage"])
