"""The rules of automatic ingestion (LinkedIn Recruiter's, issue 12), in one place for the
job that applies them and for the pages that explain them (Settings > Company, and "why
not synced" on My account).

A thread is ingested only when it is a one-on-one conversation between the user and one of
the organisation's candidates, with a message sent or received in the year before the
user authorized and one in the six months before that. Each rule a thread can break has a
code (counted on the job) and a sentence (shown to people).
"""

from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.db import models

# How far back ingestion reads, from the moment the user authorized.
HISTORY = relativedelta(years=1)
# A thread is ingested only if something was sent or received in it this recently.
ACTIVE_WITHIN = relativedelta(months=6)
# Re-authorizing after this long starts a new historical ingestion (when it is on) instead
# of resuming from the stored cursor.
RESUME_WITHIN = relativedelta(months=6)


class SkipRule(models.TextChoices):
    GROUP = "group", "More than two participants (To, Cc and Bcc together)"
    OWN_DOMAIN = "own_domain", "The other person uses your own email domain"
    NOT_CANDIDATE = (
        "not_candidate",
        "The other person is not a candidate of your organisation "
        "(unless the conversation started in Threadline)",
    )
    INACTIVE = "inactive", "Older than a year, or nothing sent or received for six months"


def history_start(authorized_at: datetime) -> datetime:
    """The oldest moment ingestion reads for an authorization at `authorized_at`."""
    return authorized_at - HISTORY


def active_since(authorized_at: datetime) -> datetime:
    """A thread must have a message after this moment to be ingested."""
    return authorized_at - ACTIVE_WITHIN
