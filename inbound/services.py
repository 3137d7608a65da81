"""Routed replies (limited sync) arriving as whole messages: the one path behind the
Mailgun webhook and `manage.py ingest_mail`.

Default-deny, as in full sync: a message is stored only when its own headers carry a
validly signed reference to a thread of the organisation it was routed to. Anything else
is dropped and counted, and nothing of it is kept.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organisation, User
from candidates.models import EmailMessage
from inbound.authentication import relay_passed_for
from inbound.metrics import record_outcome
from inbound.models import DailyTally, WebhookToken
from mailsync.ingest import (
    MessageRemoved,
    member_by_address,
    message_store,
    own_thread_continued,
    private_thread_for,
    thread_for_references,
    threads_visible_to,
)
from mailsync.mime import MalformedMessage, parse_message, reference_headers

logger = logging.getLogger(__name__)
Outcome = DailyTally.Outcome


@dataclass(frozen=True)
class Received:
    """What became of one inbound message, and how to answer whoever delivered it."""

    outcome: str
    reason: str
    message: EmailMessage | None = None
    # Mailgun retries anything but 200 and 406: 406 for what a retry cannot change.
    http_status: int = 200
    # A post that may succeed when delivered again keeps its one-time token unused.
    retry_may_succeed: bool = False


class ReplayedPost(Exception):
    """A webhook post whose one-time token was already used."""


def organisation_for_recipient(recipient: str) -> Organisation | None:
    """The organisation whose inbound address this is (an envelope recipient may list
    several addresses; the first one of ours wins)."""
    domain = settings.THREADLINE_INBOUND_DOMAIN.lower()
    for address in recipient.replace(";", ",").split(","):
        local, _, host = address.strip().strip("<>").lower().rpartition("@")
        if host == domain and local:
            # Sub-addressing (`key+anything@`) reaches the same organisation.
            organisation = Organisation.objects.filter(inbound_key=local.split("+")[0]).first()
            if organisation is not None:
                return organisation
    return None


def message_receive(*, raw: bytes, recipient: str, replay_token: str = "") -> Received:
    """Store a routed message on its thread, once, or say why not.

    `replay_token` (a webhook post's one-time token) is used up with the outcome: in the
    same transaction as a stored message, so that a post that failed half-way can be
    retried, and a repeated post is refused rather than counted twice."""
    organisation = organisation_for_recipient(recipient)
    received = _receive(organisation, raw, replay_token)
    if (
        replay_token
        and received.outcome not in (Outcome.STORED, Outcome.DUPLICATE)
        and (not received.retry_may_succeed)
    ):
        try:
            _use_token(replay_token)
        except ReplayedPost:
            received = Received(Outcome.REFUSED, "replayed post", http_status=406)
    # The count is its own short write: inside the message's transaction it held SQLite's
    # write lock longer, and the workers' p95 rose by half under load (docs/benchmarks.md).
    return _tally(organisation, received)


def _receive(organisation: Organisation | None, raw: bytes, replay_token: str) -> Received:
    if len(raw) > settings.INBOUND_MAX_MESSAGE_BYTES:
        return Received(
            Outcome.REFUSED,
            f"too large: {len(raw)} bytes, the limit is {settings.INBOUND_MAX_MESSAGE_BYTES}",
            http_status=406,
        )
    try:
        # Headers first: mail that is not of interest is dropped with its body unread.
        headers = reference_headers(raw)
    except MalformedMessage as error:
        return Received(Outcome.REFUSED, f"malformed message: {error}", http_status=400)
    if organisation is None:
        return Received(Outcome.DROPPED, "not addressed to an inbound address")
    thread = thread_for_references(organisation_id=organisation.pk, headers=list(headers))
    if thread is None:
        return Received(Outcome.DROPPED, "no Threadline reference")
    try:
        parsed = parse_message(raw)
    except MalformedMessage as error:
        return Received(Outcome.REFUSED, f"malformed message: {error}", http_status=400)
    author = _proven_author(organisation, raw, parsed.from_address)
    try:
        # The token first: a concurrent post with the same token waits here, then fails.
        with transaction.atomic():
            if replay_token:
                # No savepoint of its own: a used token ends this whole transaction.
                _use_token(replay_token, savepoint=False)
            if author is not None and not threads_visible_to(author, {thread.pk}):
                # Their reply to a thread they may not see stays theirs alone.
                thread = own_thread_continued(
                    owner=author, candidate_id=thread.candidate_id, parsed=parsed
                ) or private_thread_for(
                    owner=author, candidate_id=thread.candidate_id, subject=parsed.subject
                )
            stored = message_store(thread=thread, parsed=parsed, author=author)
    except ReplayedPost:
        return Received(Outcome.REFUSED, "replayed post", http_status=406)
    except MessageRemoved:
        # Someone removed it from Threadline: a routed copy does not bring it back.
        return Received(Outcome.DROPPED, "removed from Threadline")
    except Exception as error:  # any failure to store: answered, never a 500 to the relay
        # The type only: the exception's text may quote the message.
        logger.error(
            "Inbound message for thread %s not stored: %s", thread.pk, type(error).__name__
        )
        return Received(
            Outcome.REFUSED,
            f"could not be stored ({type(error).__name__}); deliver it again later",
            http_status=400,
            retry_may_succeed=True,
        )
    if not stored.created:
        return Received(Outcome.DUPLICATE, "already stored", stored.message)
    return Received(Outcome.STORED, "stored", stored.message)


def _proven_author(organisation: Organisation, raw: bytes, from_address: str) -> User | None:
    """The user who wrote a routed message: the one its From names, only when the relay
    says that address's domain passed DKIM or SPF. Otherwise it is someone outside."""
    if not relay_passed_for(raw, from_address):
        return None
    return member_by_address(organisation_id=organisation.pk, address=from_address)


def webhook_token_seen(token: str) -> bool:
    return WebhookToken.objects.filter(token=token).exists()


def _use_token(token: str, *, savepoint: bool = True) -> None:
    try:
        with transaction.atomic(savepoint=savepoint):
            WebhookToken.objects.create(token=token)
    except IntegrityError:
        raise ReplayedPost(token) from None


def webhook_tokens_forget_expired() -> int:
    """Tokens older than the signature's maximum age cannot be replayed anyway."""
    cutoff = timezone.now() - timedelta(seconds=2 * settings.INBOUND_SIGNATURE_MAX_AGE_SECONDS)
    deleted, _ = WebhookToken.objects.filter(received_at__lt=cutoff).delete()
    return deleted


def _tally(organisation: Organisation | None, received: Received) -> Received:
    log = logger.warning if received.outcome == Outcome.REFUSED else logger.info
    log(
        "Inbound message for %s: %s (%s)",
        organisation.pk if organisation else "no organisation",
        received.outcome,
        received.reason,
    )
    record_outcome(received.outcome)
    today = timezone.localdate()
    if not DailyTally.objects.filter(
        organisation=organisation, day=today, outcome=received.outcome
    ).update(count=F("count") + 1):
        _tally_first(organisation, today, received.outcome)
    return received


def _tally_first(organisation: Organisation | None, day: date, outcome: str) -> None:
    try:
        with transaction.atomic():
            DailyTally.objects.create(organisation=organisation, day=day, outcome=outcome, count=1)
    except IntegrityError:
        # Another process counted the day's first one a moment ago.
        DailyTally.objects.filter(organisation=organisation, day=day, outcome=outcome).update(
            count=F("count") + 1
        )
