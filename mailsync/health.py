"""Sync health: what each mailbox of an organisation is really doing, in one word and a
date, for the Admins' Sync health page, the read-only admin and the owner's My account.

The rule the page exists for: never "healthy" for a mailbox that imports nothing. A
mailbox is healthy only when it may be read, is not throttled, its last round succeeded,
and that success is recent (within three sync intervals); anything else is named.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import User
from mailsync.models import MailboxConnection
from mailsync.policy import mailbox_status, visible_health_mailboxes

# A mailbox with no successful sync for this many intervals is flagged (the rule).
STALE_INTERVALS = 3


class HealthState(models.TextChoices):
    SYNCING = "syncing", "Syncing"
    HEALTHY = "healthy", "Healthy"
    THROTTLED = "throttled", "Throttled"
    NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs re-authorization"
    FAILING = "failing", "Failing"
    STALE = "stale", "No recent sync"
    NOT_SYNCED = "not_synced", "Not synced"


@dataclass(frozen=True)
class MailboxHealth:
    mailbox: MailboxConnection
    state: HealthState
    # The state in words with its date ("Throttled until 28 Nov 2026, 14:05").
    summary: str
    # No successful sync for STALE_INTERVALS intervals while it should be syncing.
    flagged: bool
    # Time since the last successful sync (None before the first).
    lag: timedelta | None
    unreadable: int

    @property
    def label(self) -> str:
        return str(self.state.label)


def stale_after() -> timedelta:
    return timedelta(seconds=STALE_INTERVALS * settings.MAILSYNC_INTERVAL_SECONDS)


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "j M Y, H:i")


def mailbox_health(
    mailbox: MailboxConnection, *, now: datetime, unreadable: int = 0
) -> MailboxHealth:
    """One mailbox's state. Its `user` and `organisation` should be loaded with it."""
    lag = now - mailbox.last_synced_at if mailbox.last_synced_at else None
    status = mailbox_status(mailbox)
    # Since when it should have synced: its last success, or its authorization.
    since = mailbox.last_synced_at or mailbox.authorized_at
    flagged = status.may_read and now - since > stale_after()

    def health(state: HealthState, summary: str) -> MailboxHealth:
        return MailboxHealth(mailbox, state, summary, flagged, lag, unreadable)

    if mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION:
        return health(
            HealthState.NEEDS_REAUTHORIZATION,
            "Needs re-authorization by its owner: Threadline cannot reach this mailbox.",
        )
    if not status.may_read:
        return health(HealthState.NOT_SYNCED, status.why_not_read)
    if mailbox.sync_claimed_until and mailbox.sync_claimed_until > now:
        return health(HealthState.SYNCING, "A sync round is running.")
    if mailbox.throttled_until and mailbox.throttled_until > now:
        return health(
            HealthState.THROTTLED,
            f"Throttled until {_when(mailbox.throttled_until)}: the provider asked "
            "Threadline to wait.",
        )
    if mailbox.failing_since:
        return health(
            HealthState.FAILING,
            f"Failing since {_when(mailbox.failing_since)}: every round since then has failed.",
        )
    if flagged:
        return health(
            HealthState.STALE,
            f"No successful sync since {_when(since)}."
            if mailbox.last_synced_at
            else f"Not synced once since it was authorized on {_when(since)}.",
        )
    return health(HealthState.HEALTHY, "Synced recently; the last round succeeded.")


def organisation_health(
    viewer: User, *, provider: str = "", search: str = ""
) -> list[MailboxHealth]:
    """Every mailbox the viewer may watch (visible_health_mailboxes) but disconnected ones,
    of one provider and matching a search on the owner's name or address when given,
    worst first."""
    mailboxes = visible_health_mailboxes(viewer).exclude(state=MailboxConnection.State.DISCONNECTED)
    if provider:
        mailboxes = mailboxes.filter(provider=provider)
    if search:
        mailboxes = mailboxes.filter(
            Q(user__full_name__icontains=search)
            | Q(user__email__icontains=search)
            | Q(account_address__icontains=search)
        )
    loaded = mailboxes.select_related("user", "organisation").annotate(
        unreadable_count=Count("skipped_messages")
    )
    rows = _rows(loaded.order_by("user__full_name", "pk"), timezone.now())
    return sorted(rows, key=lambda row: (_SEVERITY[row.state], not row.flagged))


def _rows(mailboxes: Iterable[MailboxConnection], now: datetime) -> list[MailboxHealth]:
    return [
        mailbox_health(mailbox, now=now, unreadable=getattr(mailbox, "unreadable_count", 0))
        for mailbox in mailboxes
    ]


# The page lists what needs someone first.
_SEVERITY = {
    HealthState.NEEDS_REAUTHORIZATION: 0,
    HealthState.FAILING: 1,
    HealthState.STALE: 2,
    HealthState.THROTTLED: 3,
    HealthState.SYNCING: 4,
    HealthState.HEALTHY: 5,
    HealthState.NOT_SYNCED: 6,
}


def state_counts(rows: Iterable[MailboxHealth]) -> dict[HealthState, int]:
    counts = dict.fromkeys(HealthState, 0)
    for row in rows:
        counts[row.state] += 1
    return counts


def own_mailbox_health(mailbox: MailboxConnection | None) -> MailboxHealth | None:
    """The owner's view of the same rule (My account flags a stale mailbox to its owner)."""
    if mailbox is None or mailbox.state == MailboxConnection.State.DISCONNECTED:
        return None
    return mailbox_health(mailbox, now=timezone.now())
