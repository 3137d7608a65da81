"""Leases: a claim on a row that runs out by itself.

Used instead of a lock wherever the work it guards includes HTTP calls (a mailbox's sync
round, a token refresh): a held transaction would stall SQLite's writers for that long,
and a crashed worker would hold a lock until someone noticed. A lease is taken with one
conditional UPDATE, so two workers never both get it, and simply expires if its holder
dies.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import InterfaceError, OperationalError, connections, router
from django.db.models import Model, Q
from django.utils import timezone

# What a dropped database connection raises (a failover, a restarted server, a terminated
# backend): OperationalError on the statement that meets it, InterfaceError on the next.
# Tasks retry on these; everything else is a bug to look at.
CONNECTION_LOST = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class Lease:
    """A lease kept in two fields of `model`: until when it is held, and by whom."""

    model: type[Model]
    until_field: str
    claim_field: str

    def take(self, pk: object, *, seconds: float) -> str | None:
        """The claim token if the row was free (or its lease had run out), else None."""
        now = timezone.now()
        token = uuid.uuid4().hex
        free = Q(**{f"{self.until_field}__isnull": True}) | Q(**{f"{self.until_field}__lt": now})
        taken = self.model._default_manager.filter(free, pk=pk).update(
            **{self.until_field: now + timedelta(seconds=seconds), self.claim_field: token}
        )
        return token if taken else None

    def release(self, pk: object, token: str) -> None:
        """Give the lease back, if it is still ours (an expired one may be someone else's).
        When the connection dropped during the work, on a new one: otherwise the task's
        retry would find the row leased to itself until the lease ran out."""
        try:
            self._release(pk, token)
        except CONNECTION_LOST:
            connection = connections[router.db_for_write(self.model)]
            if connection.in_atomic_block:
                raise
            connection.close()
            self._release(pk, token)

    def _release(self, pk: object, token: str) -> None:
        self.model._default_manager.filter(pk=pk, **{self.claim_field: token}).update(
            **{self.until_field: None, self.claim_field: ""}
        )

    def renew(self, pk: object, token: str, *, seconds: float) -> bool:
        """Hold the lease `seconds` longer if it is still ours; False when it was lost (it
        ran out and another worker took the row), so the holder must stop."""
        renewed = self.model._default_manager.filter(pk=pk, **{self.claim_field: token}).update(
            **{self.until_field: timezone.now() + timedelta(seconds=seconds)}
        )
        return bool(renewed)
