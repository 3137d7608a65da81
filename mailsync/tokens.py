"""A mailbox's tokens: where a provider session keeps them, how one refresh serves every
worker, and what happens when they stop working."""

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone

from accounts.models import IntegrationPermission, User
from core.leases import Lease
from mailsync.models import MailboxConnection
from mailsync.providers import get_provider
from mailsync.providers.base import ContactsSession, MailboxSession, ProviderError, TokenStore
from mailsync.providers.calendar import CalendarSession

logger = logging.getLogger(__name__)
REFRESH_WAIT_SECONDS = 30
# One worker refreshes a token while the others wait: Microsoft rotates refresh tokens,
# so two refreshes at once would leave one worker with a dead token.
REFRESH_LEASE = Lease(MailboxConnection, "token_refresh_claimed_until", "token_refresh_claim")


class MailboxTokenStore(TokenStore):
    """Tokens on the mailbox row, encrypted; refreshes serialised by a lease."""

    def __init__(self, mailbox_id: int) -> None:
        self.mailbox_id = mailbox_id

    def save(self, credentials: dict[str, Any]) -> None:
        # Only while connected: a session that refreshes its token after the mailbox was
        # disconnected or its read grant forgotten must not write the tokens back.
        MailboxConnection.objects.filter(
            pk=self.mailbox_id, state=MailboxConnection.State.CONNECTED
        ).update(credentials=json.dumps(credentials))

    @contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """A lease on the row rather than a held transaction: the refresh it guards is an
        HTTP call, and on SQLite a held write lock would stall everything else."""
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while (claim := REFRESH_LEASE.take(self.mailbox_id, seconds=REFRESH_WAIT_SECONDS)) is None:
            if time.monotonic() > deadline:
                raise ProviderError(
                    "Another worker is still refreshing this token.", permanent=False
                )
            # Polling another worker's lease, not a backoff: real time must pass.
            time.sleep(0.1)
        try:
            yield json.loads(
                MailboxConnection.objects.values_list("credentials", flat=True).get(
                    pk=self.mailbox_id
                )
                or "{}"
            )
        finally:
            REFRESH_LEASE.release(self.mailbox_id, claim)


def open_session(mailbox: MailboxConnection) -> MailboxSession:
    """A provider session whose refreshed tokens are written back to the mailbox."""
    return get_provider(mailbox.provider).open(
        json.loads(mailbox.credentials), store=MailboxTokenStore(mailbox.pk)
    )


def open_contacts(mailbox: MailboxConnection) -> ContactsSession:
    """The same grant's address book (the caller has asked `policy.feature_status`)."""
    return get_provider(mailbox.provider).open_contacts(
        json.loads(mailbox.credentials), store=MailboxTokenStore(mailbox.pk)
    )


def open_calendar(mailbox: MailboxConnection) -> CalendarSession:
    """The same grant's calendar (the caller has asked `policy.feature_status`)."""
    return get_provider(mailbox.provider).open_calendar(
        json.loads(mailbox.credentials or "{}"), store=MailboxTokenStore(mailbox.pk)
    )


def connection_kinds(mailbox: MailboxConnection) -> list[str]:
    """The boxes (IntegrationPermission kinds) this connection serves."""
    uses = {
        IntegrationPermission.Kind.EMAIL: mailbox.uses_email,
        IntegrationPermission.Kind.CALENDAR: mailbox.uses_calendar,
        IntegrationPermission.Kind.CONTACTS: mailbox.uses_contacts,
    }
    return [kind for kind, used in uses.items() if used]


def permission_set(user: User, kind: str, state: str) -> None:
    """Move one of the user's boxes on My account to `state` (OFF unticks it)."""
    IntegrationPermission.objects.update_or_create(
        user=user,
        kind=kind,
        defaults={
            "enabled": state != IntegrationPermission.State.OFF,
            "state": state,
            "changed_at": timezone.now(),
        },
    )


def mark_needs_reauthorization(
    mailbox: MailboxConnection,
    failure: ProviderError | None = None,
    *,
    reason: str = "Access was revoked or has expired: please re-authorize.",
) -> None:
    mailbox.state = MailboxConnection.State.NEEDS_REAUTHORIZATION
    mailbox.last_error = reason
    mailbox.last_error_at = timezone.now()
    # A grant revoked or expired at the provider stops fetching as surely as tokens we
    # forget: from then on counts towards RESUME_WITHIN. The first time only (a level or
    # provider change has set it already, and a failure repeated later is the same one).
    if mailbox.deauthorized_at is None:
        mailbox.deauthorized_at = mailbox.last_error_at
    mailbox.save(update_fields=["state", "last_error", "last_error_at", "deauthorized_at"])
    for kind in connection_kinds(mailbox):
        permission_set(mailbox.user, kind, IntegrationPermission.State.NEEDS_REAUTHORIZATION)
    logger.info("Mailbox %s needs re-authorization: %s", mailbox.pk, failure or reason)
