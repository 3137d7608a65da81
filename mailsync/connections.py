"""Connecting, disconnecting and re-authorizing a user's mailbox."""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

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
    """Finish the consent flow. A declined or failed re-authorization leaves the mailbox
    exactly as it was (only unticking Email disconnects), and says so."""
    renewing = _renewable_mailbox(user)
    state, error = callback_params.get("state", ""), callback_params.get("error", "")
    pending = PendingAuthorization.objects.filter(
        user=user, state=state, created_at__gte=timezone.now() - AUTHORIZATION_TTL
    ).first()
    if pending is None:
        raise _not_completed(
            user,
            renewing,
            first_time="That authorization link has expired. Please try again.",
            renewal="That authorization link has expired, so nothing changed.",
            # Another tab may still be on the consent screen: its wait stays visible.
            restore=not _awaiting_another_authorization(user),
        )
    pending.delete()
    if pending.sync_level != sync_level_for(user):
        raise _not_completed(
            user,
            renewing,
            first_time=(
                "Your organisation changed its email sync setting while you were "
                "authorizing; please authorize again."
            ),
            first_time_state=IntegrationPermission.State.NEEDS_REAUTHORIZATION,
        )
    if error:
        if error == "access_denied":
            first_time = "You declined access, so your mailbox is not connected."
            renewal = "You declined access."
        else:
            first_time = f"The provider reported an error ({error}); nothing changed."
            renewal = f"The provider reported an error ({error})."
        raise _not_completed(
            user,
            renewing,
            first_time=first_time,
            renewal=renewal,
            first_time_state=IntegrationPermission.State.OFF,
        )
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
        reason = (
            str(failure)
            if failure.reason == "unsupported_cloud"
            else "The provider did not complete the authorization."
        )
        raise _not_completed(
            user, renewing, first_time=reason, first_time_state=IntegrationPermission.State.OFF
        ) from failure
    missing = set(pending.scopes) - set(authorization.granted_scopes)
    if missing:
        refusal = _not_completed(
            user,
            renewing,
            first_time=(
                "Threadline needs every permission on the consent screen to sync your email; "
                "please try again and leave all boxes ticked."
            ),
            first_time_state=IntegrationPermission.State.OFF,
        )
        # Google's revocation withdraws the app's access to the whole account, so the
        # partial grant of the mailbox being renewed is dropped, not revoked: revoking it
        # would cut off the connection that keeps working. Any other account's is revoked.
        renewed_address = renewing.account_address.lower() if renewing else None
        if renewed_address != authorization.account_address.lower():
            _revoke_quietly(
                _Revocation(None, provider.name, authorization.credentials), what="partial grant"
            )
        raise refusal
    with transaction.atomic():
        connection = _store_authorization(user, provider.name, authorization, pending.sync_level)
        _set_email_permission(user, IntegrationPermission.State.CONNECTED)
    return connection


# The Email permission that goes with a mailbox's state, for restoring it after a failed
# re-authorization (`authorization_start` set it to "waiting").
PERMISSION_FOR_MAILBOX_STATE = {
    MailboxConnection.State.CONNECTED: IntegrationPermission.State.CONNECTED,
    MailboxConnection.State.NEEDS_REAUTHORIZATION: (
        IntegrationPermission.State.NEEDS_REAUTHORIZATION
    ),
}


def _renewable_mailbox(user: User) -> MailboxConnection | None:
    """The mailbox an authorization would renew; None makes it a first authorization."""
    return (
        MailboxConnection.objects.filter(user=user)
        .exclude(state=MailboxConnection.State.DISCONNECTED)
        .first()
    )


def _awaiting_another_authorization(user: User) -> bool:
    return PendingAuthorization.objects.filter(
        user=user, created_at__gte=timezone.now() - AUTHORIZATION_TTL
    ).exists()


def _not_completed(
    user: User,
    renewing: MailboxConnection | None,
    *,
    first_time: str,
    renewal: str = "",
    first_time_state: str | None = None,
    restore: bool = True,
) -> AuthorizationFailed:
    """Record an authorization that did not complete and return the error to raise.

    A first authorization ends in `first_time_state` (None: left waiting) with the
    `first_time` message. A failed renewal touches nothing of the mailbox: the Email
    permission goes back to what the mailbox's state says, and the message says the
    mailbox is as it was."""
    if renewing is None:
        if first_time_state is not None:
            _set_email_permission(user, first_time_state)
        return AuthorizationFailed(first_time)
    if restore:
        _set_email_permission(user, PERMISSION_FOR_MAILBOX_STATE[renewing.state])
    if renewing.state == MailboxConnection.State.CONNECTED:
        unchanged = f"Your mailbox {renewing.account_address} stays connected as before."
    else:
        unchanged = (
            f"Your mailbox {renewing.account_address} still needs re-authorization, as before."
        )
    return AuthorizationFailed(f"{renewal or first_time} {unchanged}")


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
    """Forget the tokens, then revoke them at the provider once that has committed.
    Synced mail stays in Threadline."""
    with transaction.atomic():
        connection = MailboxConnection.objects.select_for_update().filter(user=user).first()
        if connection is not None and connection.state != MailboxConnection.State.DISCONNECTED:
            revocation = _forget_tokens(connection, state=MailboxConnection.State.DISCONNECTED)
            _revoke_after_commit([revocation])
        _set_email_permission(user, IntegrationPermission.State.OFF)


@dataclass(frozen=True)
class _Revocation:
    """Tokens Threadline no longer keeps (or never kept), still to be revoked at the
    provider."""

    connection_id: int | None
    provider: str
    credentials: dict


def _forget_tokens(connection: MailboxConnection, *, state: str) -> _Revocation:
    """Forget the connection's tokens (in the caller's transaction), keeping what revoking
    them needs."""
    revocation = _Revocation(
        connection.pk, connection.provider, json.loads(connection.credentials or "{}")
    )
    connection.credentials = json.dumps({})
    connection.state = state
    connection.save(update_fields=["credentials", "state"])
    return revocation


def _revoke_after_commit(revocations: list[_Revocation]) -> None:
    """Provider calls wait for the commit. Should the transaction fail, nothing was
    revoked and the rows still hold valid tokens; once it has committed, a failed
    revocation leaves behind only tokens that Threadline no longer has."""
    for revocation in revocations:
        transaction.on_commit(partial(_revoke_quietly, revocation), robust=True)


def _revoke_quietly(revocation: _Revocation, *, what: str = "mailbox") -> None:
    try:
        get_provider(revocation.provider).revoke(revocation.credentials)
    except ProviderError as failure:
        # The tokens are forgotten either way; the user can also remove the app's access.
        logger.warning("Revoking %s %s failed: %s", what, revocation.connection_id, failure)


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
    the other level must be authorized again, and read grants are forgotten. The level, its
    audit entry and the mailboxes' side commit together, so that no read token is ever
    stored under limited sync; the read grants are revoked at the provider after the
    commit. Returns how many users were asked to re-authorize."""
    with transaction.atomic():
        changed = organisation_set_sync_level(
            actor=actor,
            organisation=organisation,
            level=level,
            routing_confirmed=routing_confirmed,
            microsoft_authorization_mode=microsoft_authorization_mode,
        )
        if not changed:
            return 0
        stale = list(
            MailboxConnection.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(
                organisation=organisation,
                state__in=[
                    MailboxConnection.State.CONNECTED,
                    MailboxConnection.State.NEEDS_REAUTHORIZATION,
                ],
            )
            .exclude(sync_level=level)
        )
        read_grants = [
            # A read grant must not outlive the switch, even unused.
            _forget_tokens(connection, state=MailboxConnection.State.NEEDS_REAUTHORIZATION)
            for connection in stale
            if connection.sync_level == Organisation.SyncLevel.FULL
        ]
        for connection in stale:
            mark_needs_reauthorization(connection, reason=LEVEL_CHANGE_REASONS[level])
        _revoke_after_commit(read_grants)
    return len(stale)


class ConnectionTokenStore(TokenStore):
    """Tokens on the connection row, encrypted; refreshes serialised by a row lock."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def save(self, credentials: dict) -> None:
        # Only while connected: a session that refreshes its token after the mailbox was
        # disconnected or its read grant forgotten must not write the tokens back.
        MailboxConnection.objects.filter(
            pk=self.connection_id, state=MailboxConnection.State.CONNECTED
        ).update(credentials=json.dumps(credentials))

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
