"""What happened on a candidate's profile, in django-auditlog's log: who, when, which
thread or message, with counts where there are any; never mail content (no subjects, no
addresses from mail, no bodies).

Every workspace action (secret / not secret, share / private, remove, import, add from
mailbox) records one entry through `record`, so that the profile's history reads them
all back with one query (`entries_for_candidate`) whatever object they were about.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

if TYPE_CHECKING:
    from accounts.models import User


class Event(StrEnum):
    """The workspace events, as stored in the entry's additional data."""

    MADE_SECRET = "made_secret"  # noqa: S105 (an event name)
    MADE_NOT_SECRET = "made_not_secret"  # noqa: S105 (an event name)
    SHARED = "shared"
    MADE_PRIVATE = "made_private"
    REMOVED_MESSAGE = "removed_message"
    REMOVED_THREAD = "removed_thread"
    # Mail the actor deleted in their own mailbox, which deletion sync took out too.
    DELETED_IN_MAILBOX = "deleted_in_mailbox"
    IMPORT_STARTED = "import_started"
    IMPORT_FINISHED = "import_finished"
    IMPORT_CANCELLED = "import_cancelled"
    IMPORT_FAILED = "import_failed"
    ADDED_FROM_MAILBOX = "added_from_mailbox"
    INTERVIEW_SCHEDULED = "interview_scheduled"
    INTERVIEW_RESCHEDULED = "interview_rescheduled"
    INTERVIEW_CANCELLED = "interview_cancelled"
    # Written by django-auditlog's registration of the profile's own fields (models.py),
    # with the field changes in the entry's `changes`.
    PROFILE_CHANGED = "profile_changed"
    ADDRESSES_CHANGED = "addresses_changed"
    STAGE_CHANGED = "stage_changed"
    # Organisation-wide, by no one (beat's daily run): counts only.
    RETENTION_APPLIED = "retention_applied"
    # An Admin's actions on Settings > Sync health, about one mailbox (named by its owner).
    SYNC_REQUESTED = "sync_requested"
    CURSOR_RESET = "cursor_reset"


# How the profile's history says each event.
DESCRIPTIONS = {
    Event.MADE_SECRET: "made a thread secret",
    Event.MADE_NOT_SECRET: "made a thread not secret",
    Event.SHARED: "shared a thread with the team",
    Event.MADE_PRIVATE: "made a thread private",
    Event.REMOVED_MESSAGE: "removed an email from Threadline",
    Event.REMOVED_THREAD: "removed a thread from Threadline",
    Event.DELETED_IN_MAILBOX: "deleted email in their mailbox, so it left Threadline",
    Event.INTERVIEW_SCHEDULED: "scheduled an interview",
    Event.INTERVIEW_RESCHEDULED: "rescheduled an interview",
    Event.INTERVIEW_CANCELLED: "cancelled an interview",
    Event.IMPORT_STARTED: "started importing email",
    Event.IMPORT_FINISHED: "finished importing email",
    Event.IMPORT_CANCELLED: "cancelled importing email",
    Event.IMPORT_FAILED: "started an import of email that failed",
    Event.ADDED_FROM_MAILBOX: "added a thread from their mailbox",
    Event.PROFILE_CHANGED: "changed the name, headline or location",
    Event.ADDRESSES_CHANGED: "changed the email addresses",
    Event.STAGE_CHANGED: "changed an application's stage",
    Event.RETENTION_APPLIED: "removed threads inactive for the retention period",
    Event.SYNC_REQUESTED: "asked for a sync now",
    Event.CURSOR_RESET: "reset the sync cursor",
}


def record(
    *,
    actor: User,
    event: Event,
    candidate_id: uuid.UUID,
    about: Model,
    counts: dict[str, int] | None = None,
) -> None:
    """One entry for `event` on `about` (a thread, a message, an import job...). `about`'s
    str() is stored as the entry's representation, so it must not contain mail content
    (the models' __str__ hold only ids and dates)."""
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(about),
        object_pk=str(about.pk),
        object_repr=str(about)[:200],
        action=LogEntry.Action.ACCESS if event.startswith("import") else LogEntry.Action.UPDATE,
        changes={"event": [None, event.value]},
        actor=actor,
        additional_data={"candidate": str(candidate_id), "event": event.value, **(counts or {})},
    )


def record_for_organisation(
    *,
    event: Event,
    organisation: Model,
    summary: str,
    counts: dict[str, int],
    actor: User | None = None,
) -> None:
    """One entry for an organisation-wide `event`, done by the system (no actor) or by an
    Admin, on the organisation itself, so that Settings > Company's change history lists
    it with `summary` (counts, settings and user names only, never mail content)."""
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(organisation),
        object_pk=str(organisation.pk),
        # Integer keys are looked up by object_id (LogEntry.objects.get_for_object).
        object_id=organisation.pk,
        object_repr=f"Organisation {organisation.pk}",
        action=LogEntry.Action.UPDATE,
        # The history shows changes as "name: before -> after"; a name no field has is
        # shown as it is.
        changes={DESCRIPTIONS[event].capitalize(): ["", summary]},
        actor=actor,
        additional_data={"event": event.value, **counts},
    )


def entries_for_candidate(candidate_id: uuid.UUID) -> QuerySet[Any]:
    """Every workspace entry about this candidate, newest first. Callers decide who may
    read them (candidates.policy.can_see_profile_history)."""
    # auditlog ships no types: its querysets are Any.
    return (
        LogEntry.objects.filter(additional_data__candidate=str(candidate_id))
        .select_related("actor")
        .order_by("-timestamp", "-pk")
    )


def describe(entry: Any) -> str:
    """The entry's event in words ("removed a thread from Threadline")."""
    value = (entry.additional_data or {}).get("event", "")
    return DESCRIPTIONS.get(value, value)
