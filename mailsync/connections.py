"""Connecting, disconnecting and re-authorizing a user's mailbox."""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import policy
from accounts.models import IntegrationPermission, User
from accounts.services import organisation_record_admin_consent
from mailsync.models import MailboxConnection, PendingAuthorization
from mailsync.providers import get_provider
from mailsync.providers.base import MailboxSession, ProviderError, TokenStore

logger = logging.getLogger(__name__)
AUTHORIZATION_TTL = timedelta(minutes=30)
REFRESH_WAIT_SECONDS = 30


class AuthorizationFailed(Exception):
    """The authorization could not be completed; the message is for the user."""


def sync_level_for(user: User) -> str:
    # Limited (send-only) sync arrives with its own issue; every organisation is full now.
    return "full"


def _set_email_permission(user: User, state: str) -> None:
    IntegrationPermission.objects.update_or_create(
        user=user,
        kind=IntegrationPermission.Kind.EMAIL,
        defaults={
            "enabled": state != IntegrationPermission.State.OFF,
            "state": state,
            "changed_at": timezone.now(),
        },
    )


def authorization_start(*, user: User, redirect_uri: str) -> str:
    """Where to send the user to grant access; remembers state and PKCE verifier."""
    provider = get_provider(user.organisation.email_provider)
    scopes = provider.scopes_for(sync_level_for(user))
    url, state, flow_state = provider.authorization_url(
        redirect_uri=redirect_uri, scopes=scopes, login_hint=user.email
    )
    PendingAuthorization.objects.filter(created_at__lt=timezone.now() - AUTHORIZATION_TTL).delete()
    PendingAuthorization.objects.create(
        user=user, provider=provider.name, state=state, flow_state=flow_state, scopes=scopes
    )
    _set_email_permission(user, IntegrationPermission.State.AWAITING_AUTHORIZATION)
    return url


def authorization_complete(
    *, user: User, callback_params: dict[str, str], redirect_uri: str
) -> MailboxConnection:
    state, error = callback_params.get("state", ""), callback_params.get("error", "")
    pending = PendingAuthorization.objects.filter(
        user=user, state=state, created_at__gte=timezone.now() - AUTHORIZATION_TTL
    ).first()
    if pending is None:
        raise AuthorizationFailed("That authorization link has expired. Please try again.")
    pending.delete()
    if error:
        _set_email_permission(user, IntegrationPermission.State.OFF)
        if error == "access_denied":
            raise AuthorizationFailed("You declined access, so your mailbox is not connected.")
        raise AuthorizationFailed(f"The provider reported an error ({error}); nothing changed.")
    provider = get_provider(pending.provider)
    try:
        authorization = provider.exchange_code(
            redirect_uri=redirect_uri,
            callback_params=callback_params,
            flow_state=pending.flow_state,
            scopes=pending.scopes,
        )
    except ProviderError as failure:
        logger.warning("Authorization for user %s failed: %s", user.pk, failure)
        _set_email_permission(user, IntegrationPermission.State.OFF)
        if failure.reason == "unsupported_cloud":
            raise AuthorizationFailed(str(failure)) from failure
        raise AuthorizationFailed("The provider did not complete the authorization.") from failure
    missing = set(pending.scopes) - set(authorization.granted_scopes)
    if missing:
        provider.revoke(authorization.credentials)
        _set_email_permission(user, IntegrationPermission.State.OFF)
        raise AuthorizationFailed(
            "Threadline needs every permission on the consent screen to sync your email; "
            "please try again and leave all boxes ticked."
        )
    with transaction.atomic():
        connection = _store_authorization(user, provider.name, authorization)
        _set_email_permission(user, IntegrationPermission.State.CONNECTED)
    return connection


def _store_authorization(user: User, provider: str, authorization) -> MailboxConnection:
    """Create or renew the user's connection. Re-authorizing the same mailbox resumes sync
    where it stopped; a different mailbox starts afresh from now."""
    connection = MailboxConnection.objects.select_for_update().filter(user=user).first()
    same_mailbox = (
        connection is not None
        and connection.provider == provider
        and connection.account_address == authorization.account_address
        and connection.cursor
    )
    if connection is None:
        connection = MailboxConnection(user=user)
    if not same_mailbox:
        if connection.pk:
            connection.threads.all().delete()
            connection.synced_messages.all().delete()
        connection.cursor = authorization.cursor
        connection.label_id = ""
    connection.organisation_id = user.organisation_id
    connection.provider = provider
    connection.account_address = authorization.account_address
    connection.granted_scopes = authorization.granted_scopes
    connection.credentials = json.dumps(authorization.credentials)
    connection.state = MailboxConnection.State.CONNECTED
    connection.authorized_at = timezone.now()
    connection.last_error, connection.last_error_at = "", None
    connection.save()
    return connection


def disconnect(*, user: User) -> None:
    """Revoke at the provider and forget the tokens. Synced mail stays in Threadline."""
    connection = MailboxConnection.objects.filter(user=user).first()
    if connection is not None and connection.state != MailboxConnection.State.DISCONNECTED:
        try:
            get_provider(connection.provider).revoke(json.loads(connection.credentials))
        except ProviderError as failure:
            logger.warning("Revoking mailbox %s failed: %s", connection.pk, failure)
        connection.state = MailboxConnection.State.DISCONNECTED
        connection.credentials = json.dumps({})
        connection.save(update_fields=["state", "credentials"])
    _set_email_permission(user, IntegrationPermission.State.OFF)


def mark_needs_reauthorization(connection: MailboxConnection, failure: ProviderError) -> None:
    connection.state = MailboxConnection.State.NEEDS_REAUTHORIZATION
    connection.last_error = "Access was revoked or has expired: please re-authorize."
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["state", "last_error", "last_error_at"])
    _set_email_permission(connection.user, IntegrationPermission.State.NEEDS_REAUTHORIZATION)
    logger.info("Mailbox %s needs re-authorization: %s", connection.pk, failure)


class ConnectionTokenStore(TokenStore):
    """Tokens on the connection row, encrypted; refreshes serialised by a row lock."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def save(self, credentials: dict) -> None:
        MailboxConnection.objects.filter(pk=self.connection_id).update(
            credentials=json.dumps(credentials)
        )

    @contextmanager
    def locked(self) -> Iterator[dict]:
        """A lease on the row rather than a held transaction: the refresh it guards is an
        HTTP call, and on SQLite a held write lock would stall everything else."""
        claim = uuid.uuid4().hex
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while not self._claim(claim):
            if time.monotonic() > deadline:
                raise ProviderError(
                    "Another worker is still refreshing this token.", permanent=False
                )
            time.sleep(0.1)
        try:
            yield json.loads(
                MailboxConnection.objects.values_list("credentials", flat=True).get(
                    pk=self.connection_id
                )
                or "{}"
            )
        finally:
            MailboxConnection.objects.filter(
                pk=self.connection_id, token_refresh_claim=claim
            ).update(token_refresh_claimed_until=None, token_refresh_claim="")

    def _claim(self, claim: str) -> bool:
        now = timezone.now()
        return bool(
            MailboxConnection.objects.filter(
                Q(token_refresh_claimed_until__isnull=True)
                | Q(token_refresh_claimed_until__lt=now),
                pk=self.connection_id,
            ).update(
                token_refresh_claimed_until=now + timedelta(seconds=REFRESH_WAIT_SECONDS),
                token_refresh_claim=claim,
            )
        )


def open_session(connection: MailboxConnection) -> MailboxSession:
    """A provider session whose refreshed tokens are written back to the connection."""
    return get_provider(connection.provider).open(
        json.loads(connection.credentials), store=ConnectionTokenStore(connection.pk)
    )


def admin_consent_start(*, actor: User, redirect_uri: str, state: str) -> str:
    """Where a Microsoft 365 admin grants consent for the whole organisation."""
    if not policy.can_manage_company_settings(actor):
        raise AuthorizationFailed("Only a Super Admin starts the organisation's admin consent.")
    return get_provider("microsoft").admin_consent_url(redirect_uri=redirect_uri, state=state)


def admin_consent_complete(*, actor: User, callback_params: dict[str, str]) -> None:
    if callback_params.get("admin_consent", "").lower() != "true":
        description = callback_params.get("error_description") or callback_params.get("error")
        raise AuthorizationFailed(
            f"Admin consent was not granted ({description or 'no reason given'})."
        )
    organisation_record_admin_consent(
        actor=actor,
        organisation=actor.organisation,
        tenant_id=callback_params.get("tenant", ""),
    )
