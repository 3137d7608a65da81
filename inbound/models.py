from django.db import models
from django.utils import timezone


class WebhookToken(models.Model):
    """A Mailgun post's one-time token, kept while its timestamp is still acceptable so a
    captured post cannot be replayed. Written in the same transaction as what the post
    stored: a post that failed half-way may be retried by Mailgun."""

    token = models.CharField(max_length=128, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.token


class DailyTally(models.Model):
    """How many inbound messages met each outcome, per organisation and day. Counts only:
    a message that was not of interest leaves no trace of its headers or content."""

    class Outcome(models.TextChoices):
        STORED = "stored", "Stored"
        DUPLICATE = "duplicate", "Already stored"
        DROPPED = "dropped", "Dropped: not of interest"
        REFUSED = "refused", "Refused"

    organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="inbound_tallies",
        help_text="Empty when the recipient matched no organisation.",
    )
    day = models.DateField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "day", "outcome"],
                condition=models.Q(organisation__isnull=False),
                name="one_tally_per_organisation_day_outcome",
            ),
            models.UniqueConstraint(
                fields=["day", "outcome"],
                condition=models.Q(organisation__isnull=True),
                name="one_unaddressed_tally_per_day_outcome",
            ),
        ]
        ordering = ["-day", "outcome"]

    def __str__(self) -> str:
        return f"{self.day} {self.outcome}: {self.count}"
