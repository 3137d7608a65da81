import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organisation


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
