"""Every write of mailsync, one service per action, each owning its transaction: connecting,
re-authorizing and disconnecting a mailbox, the organisation's sync level and admin
consent, syncing a mailbox, sending, and importing a candidate's mail.

The mechanics behind them live beside this module (sync.py, sending.py,
manual_import.py, ingest.py, tokens.py); views, tasks and commands call only these."""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import IntegrationPermission, Organisation, User
from accounts.policy import can_manage_company_settings
from accounts.services import (
    integration_permissions_update,
    organisation_record_admin_consent,
    organisation_set_sync_level,
    user_update_profile,
)
from candidates.models import Candidate, EmailMessage, EmailThread
from candidates.policy import can_edit_candidate
from core.leases import Lease
from mailsync.manual_import import ImportRefused, ImportReport, import_messages
from mailsync.mime import build_message
from mailsync.models import MailboxConnection, PendingAuthorization
from mailsync.policy import mailbox_status
from mailsync.providers import get_provider
from mailsync.providers.base import Authorization, MailProvider, ProviderError
from mailsync.selectors import mailbox_for
from mailsync.sending import (
    MAX_ATTACHMENTS_BYTES,
    Draft,
    SendError,
    html_from_text,
    outgoing_deliver,
    outgoing_record,
    recipient_address,
)
from mailsync.sync import SyncReport, sync_round
from mailsync.threadref import new_message_id, thread_ref
from mailsync.tokens import email_permission_set, mark_needs_reauthorization

if TYPE_CHECKING:
    from mailsync.providers.graph import GraphProvider

logger = logging.getLogger(__name__)
AUTHORIZATION_TTL = timedelta(minutes=30)


class AuthorizationFailed(Exception):
    """The authorization could not be completed; the message is for the user."""


def sync_level_for(user: User) -> str:
    """What a user's authorization asks for: the organisation's level decides."""
    if user.organisation is None:
        return Organisation.SyncLevel.FULL
    return user.organisation.email_sync_level


def _provider_for(user: User) -> MailProvider:
    # Mailboxes are for members (the views are member_required), who have an organisation.
    assert user.organisation is not None
    provider_name = user.organisation.email_provider
    if provider_name == Organisation.EmailProvider.EXCHANGE_ON_PREMISE:
        raise AuthorizationFailed(
            "Your organisation's mail is on an on-premise Exchange server, which Threadline "
            "cannot connect to. Ask your Super Admin about the email provider setting."
        )
    return get_provider(provider_name)


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
    email_permission_set(user, IntegrationPermission.State.AWAITING_AUTHORIZATION)
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
        # would cut off the mailbox that keeps working. Any other account's is revoked.
        renewed_address = renewing.account_address.lower() if renewing else None
        if renewed_address != authorization.account_address.lower():
            _revoke_quietly(
                _Revocation(None, provider.name, authorization.credentials), what="partial grant"
            )
        raise refusal
    with transaction.atomic():
        mailbox = _store_authorization(user, provider.name, authorization, pending.sync_level)
        email_permission_set(user, IntegrationPermission.State.CONNECTED)
    return mailbox


# The Email permission that goes with a mailbox's state, for restoring it after a failed
# re-authorization (`authorization_start` set it to "waiting").
PERMISSION_FOR_MAILBOX_STATE: dict[str, IntegrationPermission.State] = {
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
            email_permission_set(user, first_time_state)
        return AuthorizationFailed(first_time)
    if restore:
        email_permission_set(user, PERMISSION_FOR_MAILBOX_STATE[renewing.state])
    if renewing.state == MailboxConnection.State.CONNECTED:
        unchanged = f"Your mailbox {renewing.account_address} stays connected as before."
    else:
        unchanged = (
            f"Your mailbox {renewing.account_address} still needs re-authorization, as before."
        )
    return AuthorizationFailed(f"{renewal or first_time} {unchanged}")


def _store_authorization(
    user: User, provider: str, authorization: Authorization, sync_level: str
) -> MailboxConnection:
    """Create or renew the user's mailbox. Re-authorizing the same mailbox at the same
    level resumes sync where it stopped; a different mailbox or level starts from now."""
    mailbox = MailboxConnection.objects.select_for_update().filter(user=user).first()
    same_mailbox = (
        mailbox is not None
        and mailbox.provider == provider
        and mailbox.account_address == authorization.account_address
        and mailbox.sync_level == sync_level
        and mailbox.cursor
    )
    if mailbox is None:
        mailbox = MailboxConnection(user=user)
    if not same_mailbox:
        if mailbox.pk:
            mailbox.threads.all().delete()
            mailbox.synced_messages.all().delete()
        mailbox.cursor = authorization.cursor
        mailbox.label_id = ""
    # Only members authorize (see _provider_for), whose organisation_id is set.
    mailbox.organisation_id = user.organisation_id  # type: ignore[assignment]
    mailbox.provider = provider
    mailbox.account_address = authorization.account_address
    mailbox.granted_scopes = authorization.granted_scopes
    mailbox.sync_level = sync_level
    mailbox.credentials = json.dumps(authorization.credentials)
    mailbox.state = MailboxConnection.State.CONNECTED
    mailbox.authorized_at = timezone.now()
    mailbox.last_error, mailbox.last_error_at = "", None
    mailbox.save()
    return mailbox


@dataclass(frozen=True)
class AccountSaved:
    """What saving My account leads to."""

    # Email was ticked: the provider's consent page, where the user goes next.
    consent_url: str = ""
    # Email was ticked but its authorization cannot start (why); the rest was saved.
    refusal: str = ""


def my_account_save(
    *,
    user: User,
    full_name: str,
    email: bool,
    calendar: bool,
    contacts: bool,
    redirect_uri: str,
) -> AccountSaved:
    """Save My account: the name and the permission boxes in one transaction. Ticking
    Email then starts the mailbox's authorization, after that commit (building the
    consent URL may call the provider, which no open transaction should wait on);
    unticking it disconnects the mailbox (the provider revokes after the commit)."""
    with transaction.atomic():
        user_update_profile(user=user, full_name=full_name)
        changed = integration_permissions_update(
            user=user, email=email, calendar=calendar, contacts=contacts
        )
        email_change = next(
            (p for p in changed if p.kind == IntegrationPermission.Kind.EMAIL), None
        )
        if email_change is not None and not email_change.enabled:
            disconnect(user=user)
    if email_change is None or not email_change.enabled:
        return AccountSaved()
    try:
        return AccountSaved(consent_url=authorization_start(user=user, redirect_uri=redirect_uri))
    except AuthorizationFailed as failure:
        # The box goes back to unticked; the name and the other boxes stay saved.
        email_permission_set(user, IntegrationPermission.State.OFF)
        return AccountSaved(refusal=str(failure))


def disconnect(*, user: User) -> None:
    """Forget the tokens, then revoke them at the provider once that has committed.
    Synced mail stays in Threadline."""
    with transaction.atomic():
        mailbox = MailboxConnection.objects.select_for_update().filter(user=user).first()
        if mailbox is not None and mailbox.state != MailboxConnection.State.DISCONNECTED:
            revocation = _forget_tokens(mailbox, state=MailboxConnection.State.DISCONNECTED)
            _revoke_after_commit([revocation])
        email_permission_set(user, IntegrationPermission.State.OFF)


@dataclass(frozen=True)
class _Revocation:
    """Tokens Threadline no longer keeps (or never kept), still to be revoked at the
    provider."""

    mailbox_id: int | None
    provider: str
    credentials: dict[str, Any]


def _forget_tokens(mailbox: MailboxConnection, *, state: str) -> _Revocation:
    """Forget the mailbox's tokens (in the caller's transaction), keeping what revoking
    them needs."""
    revocation = _Revocation(mailbox.pk, mailbox.provider, json.loads(mailbox.credentials or "{}"))
    mailbox.credentials = json.dumps({})
    mailbox.state = state
    mailbox.save(update_fields=["credentials", "state"])
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
        logger.warning("Revoking %s %s failed: %s", what, revocation.mailbox_id, failure)


LEVEL_CHANGE_REASONS: dict[str, str] = {
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
            _forget_tokens(mailbox, state=MailboxConnection.State.NEEDS_REAUTHORIZATION)
            for mailbox in stale
            if mailbox.sync_level == Organisation.SyncLevel.FULL
        ]
        for mailbox in stale:
            mark_needs_reauthorization(mailbox, reason=LEVEL_CHANGE_REASONS[level])
        _revoke_after_commit(read_grants)
    return len(stale)


def admin_consent_start(*, actor: User, redirect_uri: str, state: str) -> str:
    """Where a Microsoft 365 admin grants consent for the whole organisation, for the
    permissions of its current sync level."""
    if not can_manage_company_settings(actor):
        raise AuthorizationFailed("Only a Super Admin starts the organisation's admin consent.")
    # Admin consent is Microsoft's alone: get_provider("microsoft") is the Graph provider.
    microsoft = cast("GraphProvider", get_provider("microsoft"))
    return microsoft.admin_consent_url(
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
        # A non-member's None is refused there (only a Super Admin may) before it is read.
        organisation=actor.organisation,  # type: ignore[arg-type]
        tenant_id=callback_params.get("tenant", ""),
    )


# --- Syncing ------------------------------------------------------------------------------


# The mailbox is held for one run; a crashed worker's hold simply runs out.
SYNC_LEASE = Lease(MailboxConnection, "sync_claimed_until", "sync_claim")


def mailbox_sync(*, mailbox_id: int) -> SyncReport:
    token = SYNC_LEASE.take(mailbox_id, seconds=settings.MAILSYNC_LEASE_SECONDS)
    if token is None:
        return SyncReport(status="busy")
    try:
        mailbox = MailboxConnection.objects.select_related("user", "organisation").get(
            pk=mailbox_id
        )
        status = mailbox_status(mailbox)
        if not status.may_read:
            # Under limited sync replies arrive through the organisation's routing instead.
            return SyncReport(
                status="send_only" if status.may_send else "not_connected",
                error=status.why_not_read,
            )
        try:
            return sync_round(mailbox)
        except Exception as unexpected:
            # Whatever went wrong is this mailbox's alone: say so on its row, where its
            # owner and admins look, and let the next round try again.
            logger.exception("Sync of mailbox %s failed unexpectedly", mailbox_id)
            MailboxConnection.objects.filter(pk=mailbox_id).update(
                last_error="Sync failed unexpectedly; it will be tried again next round.",
                last_error_at=timezone.now(),
            )
            return SyncReport(status="failed", error=type(unexpected).__name__)
    finally:
        SYNC_LEASE.release(mailbox_id, token)


# --- Sending ------------------------------------------------------------------------------


def message_send(
    *, actor: User, candidate: Candidate, draft: Draft, thread: EmailThread | None = None
) -> EmailMessage:
    """Record the message, then send it through the actor's mailbox once that record is
    committed. If the provider refuses it, the record is withdrawn again (the compose form
    keeps what was written) so that trying again cannot leave a duplicate thread."""
    if not can_edit_candidate(actor, candidate):
        raise SendError("You may not email this candidate.")
    if thread is not None and thread.candidate_id != candidate.pk:
        raise SendError("That thread belongs to another candidate.")
    if sum(len(a.content) for a in draft.attachments) > MAX_ATTACHMENTS_BYTES:
        raise SendError("Attachments may add up to 25 MB at most.", field="attachments")
    mailbox = mailbox_for(user=actor)
    status = mailbox_status(mailbox)
    if not status.may_send:
        raise SendError(status.why_not_send)
    assert mailbox is not None  # may_send: mailbox_status found a connected mailbox
    started_thread = thread is None
    with transaction.atomic():
        address = recipient_address(actor, candidate, draft.to)
        if thread is None:
            thread = EmailThread.objects.create(
                organisation_id=candidate.organisation_id,
                candidate=candidate,
                owner=actor,
                subject=draft.subject,
            )
            in_reply_to = references = ""
        else:
            previous = list(thread.messages.order_by("sent_at", "pk"))
            in_reply_to = previous[-1].message_id if previous else ""
            references = " ".join(m.message_id for m in previous[-20:])
        message_id = new_message_id(thread.pk)
        sent_at = timezone.now()
        body_html = html_from_text(draft.body_text)
        raw = build_message(
            from_address=mailbox.account_address,
            from_name=actor.get_full_name(),
            to=[address],
            subject=draft.subject,
            body_text=draft.body_text,
            body_html=body_html,
            message_id=message_id,
            threadline_ref=thread_ref(thread.pk),
            in_reply_to=in_reply_to,
            references=references,
            attachments=draft.attachments,
            sent_at=sent_at,
        )
        message = outgoing_record(
            thread=thread,
            actor=actor,
            from_header=formataddr((actor.get_full_name(), mailbox.account_address)),
            to=address,
            message_id=message_id,
            draft=draft,
            body_html=body_html,
            sent_at=sent_at,
        )
    try:
        outgoing_deliver(mailbox, thread, message, raw)
    except SendError:
        with transaction.atomic():
            message.delete()
            if started_thread:
                thread.delete()
        raise
    message.refresh_from_db()
    return message


# --- Importing a candidate's mail ---------------------------------------------------------


def candidate_mail_import(*, actor: User, candidate: Candidate) -> ImportReport:
    if not can_edit_candidate(actor, candidate):
        raise ImportRefused("You may not import email for this candidate.")
    mailbox = mailbox_for(user=actor)
    status = mailbox_status(mailbox)
    if not status.may_read:
        raise ImportRefused(status.why_not_read)
    assert mailbox is not None  # may_read: mailbox_status found a connected mailbox
    try:
        return import_messages(mailbox, actor, candidate)
    except ProviderError as failure:
        if failure.permanent and failure.needs_reauthorization:
            mark_needs_reauthorization(mailbox, failure)
            raise ImportRefused("Your mailbox needs re-authorization.") from failure
        logger.warning("Import for candidate %s failed: %s", candidate.pk, failure)
        raise ImportRefused("The mail provider did not answer; please try again.") from failure
