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
from accounts.models import IntegrationPermission, Organisation, User
from accounts.services import organisation_record_admin_consent, organisation_set_sync_level
from mailsync.models import MailboxConnection, PendingAuthorization
from mailsync.providers import get_provider
from mailsync.providers.base import MailboxSession, MailProvider, ProviderError, TokenStore

logger = logging.getLogger(__name__)
AUTHORIZATION_TTL = timedelta(minutes=30)
REFRESH_WAIT_SECONDS = 30


class AuthorizationFailed(Exception):
    """The authorization could not be completed; the message is for the user."""


def sync_level_for(user: User) -> str:
    """What a user's authorization asks for: the organisation's level decides."""
    if user.organisation is None:
        return Organisation.SyncLevel.FULL
    return user.organisation.email_sync_level


def _provider_for(user: User) -> MailProvider:
    provider_name = user.organisation.email_provider
    if provider_name == Organisation.EmailProvider.EXCHANGE_ON_PREMISE:
        raise AuthorizationFailed(
            "Your organisation's mail is on an on-premise Exchange server, which Threadline "
            "cannot connect to. Ask your Super Admin about the email provider setting."
        )
    return get_provider(provider_name)


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
    provider = _provider_for(user)
    level = sync_level_for(user)
    scopes = provider.scopes_for(level)
    url, state, flow_state = provider.authorization_url(
        redirect_uri=redirect_uri, scopes=scopes, login_hint=user.email
    )
    PendingAuthorization.objects.filter(created_at__lt=timezone.now() - AUTHORIZATION_TTL).delete()
    PendingAuthorization.objects.create(
        user=user,
        provider=provider.name,
        state=state,
        flow_state=flow_state,
        scopes=scopes,
        sync_level=level,
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
    if pending.sync_level != sync_level_for(user):
        _set_email_permission(user, IntegrationPermission.State.NEEDS_REAUTHORIZATION)
        raise AuthorizationFailed(
            "Your organisation changed its email sync setting while you were authorizing; "
            "please authorize again."
        )
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
        connection = _store_authorization(user, provider.name, authorization, pending.sync_level)
        _set_email_permission(user, IntegrationPermission.State.CONNECTED)
    return connection


def _store_authorization(
    user: User, provider: str, authorization, sync_level: str
) -> MailboxConnection:
    """Create or renew the user's connection. Re-authorizing the same mailbox at the same
    level resumes sync where it stopped; a different mailbox or level starts from now."""
    connection = MailboxConnection.objects.select_for_update().filter(user=user).first()
    same_mailbox = (
        connection is not None
        and connection.provider == provider
        and connection.account_address == authorization.account_address
        and connection.sync_level == sync_level
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
    connection.sync_level = sync_level
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


def mark_needs_reauthorization(
    connection: MailboxConnection,
    failure: ProviderError | None = None,
    *,
    reason: str = "Access was revoked or has expired: please re-authorize.",
) -> None:
    connection.state = MailboxConnection.State.NEEDS_REAUTHORIZATION
    connection.last_error = reason
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["state", "last_error", "last_error_at"])
    _set_email_permission(connection.user, IntegrationPermission.State.NEEDS_REAUTHORIZATION)
    logger.info("Mailbox %s needs re-authorization: %s", connection.pk, failure or reason)


LEVEL_CHANGE_REASONS = {
    Organisation.SyncLevel.LIMITED: (
        "Your organisation switched to limited sync: Threadline's read access was revoked. "
        "Re-authorize to keep sending from your mailbox (send permission only)."
    ),
    Organisation.SyncLevel.FULL: (
        "Your organisation switched to full sync: re-authorize so that Threadline can sync "
        "replies from your mailbox."
    ),
}


def organisation_change_sync_level(
    *,
    actor: User,
    organisation: Organisation,
    level: str,
    routing_confirmed: bool,
    microsoft_authorization_mode: str,
) -> int:
    """Switch the organisation between full and limited sync. Every mailbox authorized at
    the other level must be authorized again; read grants are revoked at the provider
    first, so that nothing is read from the moment limited sync is on. Returns how many
    users were asked to re-authorize."""
    changed = organisation_set_sync_level(
        actor=actor,
        organisation=organisation,
        level=level,
        routing_confirmed=routing_confirmed,
        microsoft_authorization_mode=microsoft_authorization_mode,
    )
    if not changed:
        return 0
    stale = (
        MailboxConnection.objects.select_related("user")
        .filter(
            organisation=organisation,
            state__in=[
                MailboxConnection.State.CONNECTED,
                MailboxConnection.State.NEEDS_REAUTHORIZATION,
            ],
        )
        .exclude(sync_level=level)
    )
    count = 0
    for connection in stale:
        if connection.sync_level == Organisation.SyncLevel.FULL:
            # A read grant must not outlive the switch, even unused: revoke and forget it.
            _revoke_quietly(connection)
            connection.credentials = json.dumps({})
            connection.save(update_fields=["credentials"])
        mark_needs_reauthorization(connection, reason=LEVEL_CHANGE_REASONS[level])
        count += 1
    return count


def _revoke_quietly(connection: MailboxConnection) -> None:
    try:
        get_provider(connection.provider).revoke(json.loads(connection.credentials or "{}"))
    except ProviderError as failure:
        # The tokens are forgotten either way; the user can also remove the app's access.
        logger.warning("Revoking mailbox %s failed: %s", connection.pk, failure)


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
    """Where a Microsoft 365 admin grants consent for the whole organisation, for the
    permissions of its current sync level."""
    if not policy.can_manage_company_settings(actor):
        raise AuthorizationFailed("Only a Super Admin starts the organisation's admin consent.")
    return get_provider("microsoft").admin_consent_url(
        redirect_uri=redirect_uri, state=state, level=sync_level_for(actor)
    )


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
