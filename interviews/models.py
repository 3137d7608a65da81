"""Interviews scheduled from a candidate's profile: events Threadline created in an
organiser's calendar, and each attendee's answer as the provider last reported it.

Only events Threadline created are ever read (they carry our private tag, see
`mailsync.providers.calendar`); nothing of any other event reaches these tables. The invitation
text is sent to the provider and not kept here."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organisation
from candidates.models import Candidate
from mailsync.models import MailboxConnection


class Interview(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        # Cancelled from Threadline: the provider told the attendees.
        CANCELLED = "cancelled", "Cancelled"
        # The organiser deleted or cancelled the event in their calendar.
        DELETED_AT_PROVIDER = "deleted_at_provider", "Deleted in the calendar"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="interviews")
    organiser = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The organiser's connection whose calendar holds the event.
    connection = models.ForeignKey(
        MailboxConnection, on_delete=models.SET_NULL, null=True, related_name="interviews"
    )
    provider = models.CharField(max_length=16, choices=MailboxConnection.Provider.choices)
    provider_event_id = models.CharField(max_length=500)
    ical_uid = models.CharField(max_length=500, blank=True)
    # Our tag on the event (Google private extended property / Graph single-value
    # extended property): how sync finds our events and nothing else.
    tag = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=300)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64)
    meeting_url = models.URLField(max_length=1000, blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.SCHEDULED)
    created_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_event_id"], name="one_interview_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%Y-%m-%d %H:%M})"


class InterviewAttendee(models.Model):
    class Response(models.TextChoices):
        NEEDS_ACTION = "needs_action", "Not answered"
        ACCEPTED = "accepted", "Accepted"
        TENTATIVE = "tentative", "Maybe"
        DECLINED = "declined", "Declined"

    interview = models.ForeignKey(Interview, on_delete=models.CASCADE, related_name="attendees")
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    # Set for interviewers (and the organiser); None for the candidate and guests.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    is_candidate = models.BooleanField(default=False)
    is_organiser = models.BooleanField(default=False)
    response = models.CharField(
        max_length=16, choices=Response.choices, default=Response.NEEDS_ACTION
    )

    class Meta:
        ordering = ["-is_organiser", "is_candidate", "email"]
        constraints = [
            models.UniqueConstraint(fields=["interview", "email"], name="one_attendee_per_address")
        ]

    def __str__(self) -> str:
        return f"{self.email} · {self.get_response_display()}"
