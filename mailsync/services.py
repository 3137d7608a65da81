"""Every write of mailsync, one service per action, each owning its transaction: connecting,
re-authorizing and disconnecting a mailbox, the organisation's sync level and admin
consent, syncing a mailbox, sending, importing a candidate's mail, and removing mail from
Threadline (never from the mailbox).

The mechanics behind them live beside this module (sync.py, sending.py,
manual_import.py, removal.py, ingest.py, tokens.py); views, tasks and commands call only these."""

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import formataddr
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import IntegrationPermission, Organisation, User
from accounts.policy import can_change_user, can_manage_company_settings
from accounts.services import (
    integration_permissions_update,
    organisation_record_admin_consent,
    organisation_set_auto_ingestion,
    organisation_set_sync_level,
    organisation_update_settings,
    user_update_profile,
)
from candidates import audit
from candidates.addresses import normalise_email_address
from candidates.models import Candidate, EmailMessage, EmailThread
from candidates.policy import (
    can_create_candidate,
    can_edit_candidate,
    can_remove_from_threadline,
    visible_candidates,
    visible_threads,
)
from candidates.services import CandidateError, candidate_create
from core.leases import CONNECTION_LOST, Lease
from mailsync.ingest import activity_recompute
from mailsync.ingestion import ingestion_job_run
from mailsync.ingestion_rules import RESUME_WITHIN, active_since, history_start
from mailsync.mailbox_threads import (
    AlreadyInThreadline,
    Attached,
    MailboxThreadRefused,
    label_attached,
    readable_mailbox,
    thread_fetch_from,
    thread_import,
    threads_in_threadline,
)
from mailsync.manual_import import (
    IMPORT_LEASE,
    ImportRefused,
    ImportRunOutcome,
    import_job_end,
    import_job_run_held,
)
from mailsync.metrics import record_round
from mailsync.mime import OutgoingAttachment, build_message
from mailsync.models import (
    DraftAttachment,
    ImportJob,
    IngestionJob,
    MailboxConnection,
    PendingAuthorization,
)
from mailsync.policy import (
    READING_LEVELS,
    company_allows,
    company_off_reason,
    company_send_refusal,
    ingestion_allowed,
    level_change_deauthorizes,
    mailbox_status,
    visible_health_mailboxes,
)
from mailsync.providers import get_provider
from mailsync.providers.base import Authorization, MailProvider, ProviderError
from mailsync.providers.http import RequestTally, requests_counted
from mailsync.purge import mailbox_data_delete, purge_record
from mailsync.removal import REMOVAL_REFUSED, RemovalRefused, thread_locked, tombstones_write
from mailsync.retention import (
    RetentionReport,
    retention_cutoff,
    threads_due,
    threads_retire_batch,
)
from mailsync.selectors import (
    import_jobs_stalled,
    ingestion_jobs_stalled,
    mailbox_for,
    restorable_tombstones_all_copies,
)
from mailsync.sending import (
    MAX_ATTACHMENTS_BYTES,
    Draft,
    SendError,
    draft_attachments_expire,
    draft_attachments_store,
    html_from_text,
    outgoing_deliver,
    outgoing_record,
    recipient_address,
)
from mailsync.sync import SyncReport, record_round_failed, sync_round
from mailsync.threadref import new_message_id, thread_ref
from mailsync.tokens import connection_kinds, mark_needs_reauthorization, permission_set

if TYPE_CHECKING:
    from mailsync.providers.graph import GraphProvider

logger = logging.getLogger(__name__)
EMAIL = IntegrationPermission.Kind.EMAIL
CALENDAR = IntegrationPermission.Kind.CALENDAR
CONTACTS = IntegrationPermission.Kind.CONTACTS
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
    if not provider_name:
        raise AuthorizationFailed(company_off_reason(user, EMAIL))
    if provider_name == Organisation.EmailProvider.EXCHANGE_ON_PREMISE:
        # Addressed by role: a Super Admin is the one who can change it.
        what_to_do = (
            "Choose Google Workspace or Microsoft 365 under Settings › Company if your "
            "mail moves there."
            if can_manage_company_settings(user)
            else "Ask your Super Admin about the email provider setting."
        )
        raise AuthorizationFailed(
            "Your organisation's mail is on an on-premise Exchange server, which Threadline "
            f"cannot connect to. {what_to_do}"
        )
    return get_provider(provider_name)


def _wanted_kinds(user: User) -> list[str]:
    """The boxes ticked on My account that the company allows: what a consent asks for.
    Nothing ticked (the Re-authorize button of an old mailbox) means Email."""
    ticked = set(
        IntegrationPermission.objects.filter(user=user, enabled=True).values_list("kind", flat=True)
    )
    kinds = [
        kind
        for kind in IntegrationPermission.Kind.values
        if kind in ticked and company_allows(user.organisation, kind)
    ]
    if kinds:
        return kinds
    if not company_allows(user.organisation, EMAIL):
        raise AuthorizationFailed(company_off_reason(user, EMAIL))
    return [EMAIL]


def _scopes_for_kinds(provider: MailProvider, level: str, kinds: Sequence[str]) -> list[str]:
    """Email's scopes at the organisation's level (or just the account's identity without
    Email), plus each other box's."""
    scopes = provider.scopes_for(level) if EMAIL in kinds else provider.identity_scopes()
    for kind in kinds:
        if kind != EMAIL:
            scopes += [s for s in provider.scopes_for_feature(kind) if s not in scopes]
    return scopes


def _serves(connection: MailboxConnection | None, kind: str) -> bool:
    """Does this connection already serve that box, connected?"""
    return (
        connection is not None
        and connection.state == MailboxConnection.State.CONNECTED
        and kind in connection_kinds(connection)
    )


def authorization_start(*, user: User, redirect_uri: str) -> str:
    """Where to send the user to grant access; remembers state and PKCE verifier.

    One grant serves every ticked box. A connected account is asked only for what it does
    not hold yet (incremental consent: Google adds the new scopes to the grant with
    include_granted_scopes; MSAL asks for the whole set and Microsoft shows only what was
    not consented)."""
    provider = _provider_for(user)
    level = sync_level_for(user)
    kinds = _wanted_kinds(user)
    scopes = _scopes_for_kinds(provider, level, kinds)
    connection = _renewable_mailbox(user)
    held = (
        list(connection.granted_scopes)
        if connection is not None
        and connection.state == MailboxConnection.State.CONNECTED
        and connection.provider == provider.name
        else []
    )
    url, state, flow_state = provider.authorization_url(
        redirect_uri=redirect_uri, scopes=scopes, login_hint=user.email, held_scopes=held
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
    for kind in kinds:
        # A box the connection already serves keeps working meanwhile.
        if not _serves(connection, kind):
            permission_set(user, kind, IntegrationPermission.State.AWAITING_AUTHORIZATION)
    return url


@dataclass(frozen=True)
class AuthorizationDone:
    mailbox: MailboxConnection
    # Boxes whose permission the user left unticked on the provider's consent screen.
    not_granted: list[str]


def authorization_complete(
    *, user: User, callback_params: dict[str, str], redirect_uri: str
) -> AuthorizationDone:
    """Finish the consent flow. A declined or failed re-authorization leaves the mailbox
    exactly as it was (only unticking Email disconnects), and says so. Calendar or
    Contacts not granted (Google's granular consent) leave that box off and the rest
    connected; Email not granted refuses the whole grant, as before."""
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
    kinds = _wanted_kinds(user)
    granted = set(authorization.granted_scopes)
    needed_first = (
        provider.scopes_for(pending.sync_level) if EMAIL in kinds else provider.identity_scopes()
    )
    if set(needed_first) - granted:
        refusal = _not_completed(
            user,
            renewing,
            first_time=(
                "Threadline needs every permission on the consent screen to sync your email; "
                "please try again and leave all boxes ticked."
                if EMAIL in kinds
                else "Threadline needs to know your account's address; please try again."
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
    served = {
        kind for kind in kinds if kind == EMAIL or set(provider.scopes_for_feature(kind)) <= granted
    }
    with transaction.atomic():
        mailbox, resumed = _store_authorization(
            user, provider.name, authorization, pending.sync_level, served=served
        )
        for kind in kinds:
            permission_set(
                user,
                kind,
                IntegrationPermission.State.CONNECTED
                if kind in served
                else IntegrationPermission.State.OFF,
            )
    # A new or fresh start (first authorization, another mailbox, back after more than
    # six months) ingests the year before; coming back sooner resumes from the cursor,
    # and only a mailbox whose ingestion never finished starts one.
    if (
        not resumed
        or not IngestionJob.objects.filter(mailbox=mailbox, state=IngestionJob.State.DONE).exists()
    ):
        ingestion_start(mailbox=mailbox)
    return AuthorizationDone(mailbox=mailbox, not_granted=[k for k in kinds if k not in served])


def authorization_store(*, user: User, authorization: Authorization) -> MailboxConnection:
    """Connect the user's Email with tokens obtained without the consent screen: the demo
    seed mints them in the sandbox. Everyone else goes through `authorization_complete`."""
    provider = _provider_for(user)
    with transaction.atomic():
        mailbox, _ = _store_authorization(
            user, provider.name, authorization, sync_level_for(user), served={EMAIL}
        )
        permission_set(user, EMAIL, IntegrationPermission.State.CONNECTED)
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
    if restore:
        _features_settle(user, renewing)
    if renewing is None:
        if first_time_state is not None and _ticked(user, EMAIL):
            permission_set(user, EMAIL, first_time_state)
        return AuthorizationFailed(first_time)
    if restore and renewing.uses_email:
        permission_set(user, EMAIL, PERMISSION_FOR_MAILBOX_STATE[renewing.state])
    if renewing.state == MailboxConnection.State.CONNECTED:
        unchanged = f"Your mailbox {renewing.account_address} stays connected as before."
    else:
        unchanged = (
            f"Your mailbox {renewing.account_address} still needs re-authorization, as before."
        )
    return AuthorizationFailed(f"{renewal or first_time} {unchanged}")


def _ticked(user: User, kind: str) -> bool:
    return IntegrationPermission.objects.filter(user=user, kind=kind, enabled=True).exists()


def _features_settle(user: User, connection: MailboxConnection | None) -> None:
    """After a consent that did not complete: Calendar and Contacts boxes the connection
    serves go back to its state; those it does not serve go off (they would otherwise
    wait forever)."""
    for kind in (CALENDAR, CONTACTS):
        if not IntegrationPermission.objects.filter(
            user=user, kind=kind, state=IntegrationPermission.State.AWAITING_AUTHORIZATION
        ).exists():
            continue
        if connection is not None and kind in connection_kinds(connection):
            permission_set(user, kind, PERMISSION_FOR_MAILBOX_STATE[connection.state])
        else:
            permission_set(user, kind, IntegrationPermission.State.OFF)


def _store_authorization(
    user: User,
    provider: str,
    authorization: Authorization,
    sync_level: str,
    *,
    served: set[str],
) -> tuple[MailboxConnection, bool]:
    """Create or renew the user's mailbox; returns it and whether sync resumes from the
    stored cursor. Re-authorizing the same mailbox resumes where sync stopped when it is
    back within six months of being deauthorized (RESUME_WITHIN) and both the old and the
    new level read mail (or the level is unchanged): a level or provider change in between
    keeps the cursor (or the bounded recovery where the provider expired it). Later, or
    another mailbox, starts from now. What was synced stays; another mailbox's links to
    its threads go."""
    mailbox = MailboxConnection.objects.select_for_update().filter(user=user).first()
    now = timezone.now()
    same_account = (
        mailbox is not None
        and mailbox.provider == provider
        and mailbox.account_address == authorization.account_address
    )
    resumes = (
        mailbox is not None
        and same_account
        and bool(mailbox.cursor)
        and (
            mailbox.sync_level == sync_level
            or {mailbox.sync_level, sync_level} <= set(READING_LEVELS)
        )
        and (mailbox.deauthorized_at is None or now <= mailbox.deauthorized_at + RESUME_WITHIN)
    )
    if mailbox is None:
        mailbox = MailboxConnection(user=user)
    if not resumes:
        if mailbox.pk and not same_account:
            mailbox.threads.all().delete()
            mailbox.synced_messages.all().delete()
            mailbox.label_id = ""
        mailbox.cursor = authorization.cursor
    # Only members authorize (see _provider_for), whose organisation_id is set.
    mailbox.organisation_id = user.organisation_id  # type: ignore[assignment]
    mailbox.provider = provider
    mailbox.account_address = authorization.account_address
    mailbox.granted_scopes = authorization.granted_scopes
    mailbox.sync_level = sync_level
    mailbox.credentials = json.dumps(authorization.credentials)
    mailbox.uses_email = EMAIL in served
    mailbox.uses_calendar = CALENDAR in served
    mailbox.uses_contacts = CONTACTS in served
    mailbox.state = MailboxConnection.State.CONNECTED
    mailbox.authorized_at = now
    mailbox.deauthorized_at = None
    mailbox.last_error, mailbox.last_error_at = "", None
    # A new grant starts with a clean bill of health: the failures were the old one's.
    mailbox.failing_since = mailbox.throttled_until = None
    mailbox.save()
    return mailbox, resumes


@dataclass(frozen=True)
class AccountSaved:
    """What saving My account leads to."""

    # A newly ticked box needs the provider's consent: where the user goes next.
    consent_url: str = ""
    # The consent cannot start (why); the rest was saved.
    refusal: str = ""
    # What happened at the provider for each unticked box, for the user.
    notices: list[str] = field(default_factory=list)


USES_FIELD: dict[str, str] = {
    EMAIL: "uses_email",
    CALENDAR: "uses_calendar",
    CONTACTS: "uses_contacts",
}


def my_account_save(
    *,
    user: User,
    full_name: str,
    email: bool,
    calendar: bool,
    contacts: bool,
    redirect_uri: str,
) -> AccountSaved:
    """Save My account: the name and the permission boxes in one transaction.

    An unticked box stops its feature at once. With every box unticked the connection is
    disconnected and its grant revoked; otherwise the grant stays (Google revokes grants
    only as a whole, and revoking would cut off the boxes still ticked) and the notice
    says so. A ticked box the grant already covers starts at once; one it does not cover
    starts the provider's consent after the commit (building the consent URL may call the
    provider, which no open transaction should wait on). A box the company has off cannot
    be ticked, nor unticked by saving while it is off."""
    organisation = user.organisation
    wanted = {EMAIL: email, CALENDAR: calendar, CONTACTS: contacts}
    for kind in (EMAIL, CALENDAR, CONTACTS):
        if not company_allows(organisation, kind):
            # The company's Off freezes the box as the user left it: stopped, not unticked.
            wanted[kind] = IntegrationPermission.objects.filter(
                user=user, kind=kind, enabled=True
            ).exists()
    notices: list[str] = []
    with transaction.atomic():
        user_update_profile(user=user, full_name=full_name)
        changed = integration_permissions_update(user=user, **wanted)
        connection = MailboxConnection.objects.select_for_update().filter(user=user).first()
        unticked = [p.kind for p in changed if not p.enabled]
        ticked = [p.kind for p in changed if p.enabled]
        # A box left waiting by an abandoned consent (the user closed the provider's
        # page) asks again when saved, as a newly ticked one does: otherwise it would
        # wait for ever with no way to finish but unticking and ticking it again.
        ticked += [
            kind
            for kind in IntegrationPermission.objects.filter(
                user=user, enabled=True, state=IntegrationPermission.State.AWAITING_AUTHORIZATION
            ).values_list("kind", flat=True)
            if kind not in ticked
            and wanted[IntegrationPermission.Kind(kind)]
            and company_allows(organisation, kind)
        ]
        if unticked and not any(wanted.values()):
            disconnect(user=user)
        elif unticked and connection is not None:
            for box in unticked:
                setattr(connection, USES_FIELD[box], False)
            connection.save(update_fields=[USES_FIELD[k] for k in unticked])
            notices.append(_unticked_notice(connection, unticked))
        needs_consent = []
        for box in ticked:
            if _grant_covers(connection, box):
                assert connection is not None  # _grant_covers found it
                setattr(connection, USES_FIELD[box], True)
                connection.save(update_fields=[USES_FIELD[box]])
                permission_set(user, box, IntegrationPermission.State.CONNECTED)
            else:
                needs_consent.append(box)
    if not needs_consent:
        return AccountSaved(notices=notices)
    try:
        url = authorization_start(user=user, redirect_uri=redirect_uri)
    except AuthorizationFailed as failure:
        # The boxes go back to unticked; the name and the other boxes stay saved.
        for box in needs_consent:
            permission_set(user, box, IntegrationPermission.State.OFF)
        return AccountSaved(refusal=str(failure), notices=notices)
    return AccountSaved(consent_url=url, notices=notices)


def _grant_covers(connection: MailboxConnection | None, kind: str) -> bool:
    """May a box start without a new consent: the connected grant holds its scopes (as
    after unticking and ticking it again). Email also needs tokens of the current level."""
    if connection is None or connection.state != MailboxConnection.State.CONNECTED:
        return False
    provider = get_provider(connection.provider)
    if kind == EMAIL:
        level = connection.organisation.email_sync_level
        needed = provider.scopes_for(level)
        if connection.sync_level != level or (not connection.cursor and level in READING_LEVELS):
            return False
    else:
        needed = provider.scopes_for_feature(kind)
    return set(needed) <= set(connection.granted_scopes)


def _unticked_notice(connection: MailboxConnection, kinds: list[str]) -> str:
    labels = " and ".join(IntegrationPermission.Kind(k).label for k in kinds)
    kept = " and ".join(IntegrationPermission.Kind(k).label for k in connection_kinds(connection))
    if connection.provider == MailboxConnection.Provider.GOOGLE:
        return (
            f"Threadline has stopped using your {labels}. Google grants access as a whole, "
            f"so its permission stays on your Google Account until you untick every box "
            f"(Threadline then revokes it); {kept} keeps working and you do not need to "
            f"consent again."
        )
    return (
        f"Threadline has stopped using your {labels} and no longer asks Microsoft for "
        f"it. Your consent stays in your Microsoft account (My Apps) until you untick "
        f"every box; {kept} keeps working without a new consent."
    )


def disconnect(*, user: User) -> None:
    """Untick every box: forget the tokens, then revoke them at the provider once that
    has committed. Synced mail and interviews stay in Threadline."""
    with transaction.atomic():
        mailbox = MailboxConnection.objects.select_for_update().filter(user=user).first()
        if mailbox is not None and mailbox.state != MailboxConnection.State.DISCONNECTED:
            revocation = _forget_tokens(mailbox, state=MailboxConnection.State.DISCONNECTED)
            _revoke_after_commit([revocation])
        for kind in IntegrationPermission.Kind.values:
            permission_set(user, kind, IntegrationPermission.State.OFF)


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
    # Fetching stops (no tokens); the cursor and what was synced stay, so that coming
    # back within six months resumes (see _store_authorization).
    mailbox.deauthorized_at = timezone.now()
    mailbox.save(update_fields=["credentials", "state", "deauthorized_at"])
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


LOWERED_REASONS: dict[str, str] = {
    Organisation.SyncLevel.OFF: (
        "Your organisation turned email off: Threadline's access to your mailbox was "
        "withdrawn. Mail synced so far stays in Threadline."
    ),
    Organisation.SyncLevel.VIEW: (
        "Your organisation changed email access to View only: Threadline's access to your "
        "mailbox was withdrawn. Re-authorize under Settings › My account to let Threadline "
        "read (never send) your mail with candidates."
    ),
    Organisation.SyncLevel.LIMITED: (
        "Your organisation changed email access to Send only: Threadline's access to your "
        "mailbox was withdrawn. Re-authorize under Settings › My account to keep sending "
        "from your mailbox (send permission only)."
    ),
}


def _holding_tokens(organisation: Organisation, *, lock: bool = False) -> list[MailboxConnection]:
    """Connections that still hold tokens, whatever they are used for (a user who unticked
    Email keeps the grant while Calendar or Contacts use it). Tokens are encrypted, so
    whether they were forgotten is read row by row."""
    connections = MailboxConnection.objects.filter(
        organisation=organisation,
        state__in=[
            MailboxConnection.State.CONNECTED,
            MailboxConnection.State.NEEDS_REAUTHORIZATION,
        ],
    ).select_related("user")
    if lock:
        connections = connections.select_for_update(of=("self",))
    return [c for c in connections if json.loads(c.credentials or "{}")]


def _lowered_by(mailbox: MailboxConnection, level: str) -> bool:
    """Does a switch to `level` take away something this connection's tokens may do? A
    connection that holds no email scope at all (Calendar or Contacts only) is not
    affected."""
    provider = get_provider(mailbox.provider)
    email_scopes = {
        scope for each in Organisation.SyncLevel.values for scope in provider.scopes_for(each)
    } - set(provider.identity_scopes())
    holds_email = bool(email_scopes & set(mailbox.granted_scopes))
    return holds_email and level_change_deauthorizes(mailbox.sync_level, level)


def connections_to_deauthorize_for_level(organisation: Organisation, level: str) -> int:
    """How many users a switch to `level` would deauthorize (for the confirmation)."""
    return sum(1 for mailbox in _holding_tokens(organisation) if _lowered_by(mailbox, level))


def organisation_change_sync_level(
    *,
    actor: User,
    organisation: Organisation,
    level: str,
    routing_confirmed: bool,
    microsoft_authorization_mode: str,
) -> int:
    """Change the organisation's email access level (Off, View only, Send only, Send &
    view). Lowering deauthorizes every connection whose tokens may do what the new level
    does not: the tokens are forgotten in this transaction (so no read or send right
    outlives the switch, even unused) and revoked at the provider after the commit where
    it offers revocation, and each user's banner says what happened. Raising keeps every
    connection working with what it was granted and asks its user to re-authorize for
    the rest (see mailbox_status). Returns how many users were deauthorized."""
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
        stale = [
            mailbox
            for mailbox in _holding_tokens(organisation, lock=True)
            if _lowered_by(mailbox, level)
        ]
        revocations = [
            _forget_tokens(mailbox, state=MailboxConnection.State.NEEDS_REAUTHORIZATION)
            for mailbox in stale
        ]
        for mailbox in stale:
            mark_needs_reauthorization(mailbox, reason=LOWERED_REASONS[level])
        _revoke_after_commit(revocations)
    return len(stale)


PROVIDER_CHANGE_REASON = (
    "Your company changed its email provider to {provider}: Threadline's access to your "
    "{old} account was withdrawn. Re-authorize under Settings › My account to connect "
    "your {provider} account; mail synced so far stays in Threadline."
)


def connections_to_deauthorize_for_provider(organisation: Organisation, provider: str) -> int:
    """How many users a switch to `provider` would deauthorize (for the confirmation)."""
    return (
        MailboxConnection.objects.filter(organisation=organisation)
        .exclude(state=MailboxConnection.State.DISCONNECTED)
        .exclude(provider=provider)
        .count()
    )


def organisation_change_settings(
    *,
    actor: User,
    organisation: Organisation,
    name: str,
    email_provider: str,
    microsoft_authorization_mode: str,
) -> int:
    """Save Settings > Company's general section. A provider change deauthorizes every
    connection of the old provider in the same transaction (tokens forgotten, revoked at
    the provider after the commit where it offers revocation) and asks its users to
    authorize with the new one; synced mail stays. Returns how many were deauthorized."""
    with transaction.atomic():
        organisation_update_settings(
            actor=actor,
            organisation=organisation,
            name=name,
            email_provider=email_provider,
            microsoft_authorization_mode=microsoft_authorization_mode,
        )
        if not email_provider:
            # Still not chosen (the page saved for its name): nobody has authorized yet.
            return 0
        stale = list(
            MailboxConnection.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(organisation=organisation)
            .exclude(state=MailboxConnection.State.DISCONNECTED)
            .exclude(provider=email_provider)
        )
        label = Organisation.EmailProvider(email_provider).label
        revocations = []
        for mailbox in stale:
            old = MailboxConnection.Provider(mailbox.provider).label
            revocations.append(
                _forget_tokens(mailbox, state=MailboxConnection.State.NEEDS_REAUTHORIZATION)
            )
            mark_needs_reauthorization(
                mailbox, reason=PROVIDER_CHANGE_REASON.format(provider=label, old=old)
            )
        _revoke_after_commit(revocations)
    return len(stale)


def admin_consent_start(*, actor: User, redirect_uri: str, state: str) -> str:
    """Where a Microsoft 365 admin grants consent for the whole organisation, for the
    permissions of its current sync level and of the Calendar and Contacts it has on."""
    if not can_manage_company_settings(actor):
        raise AuthorizationFailed("Only a Super Admin starts the organisation's admin consent.")
    # Admin consent is Microsoft's alone: get_provider("microsoft") is the Graph provider.
    microsoft = cast("GraphProvider", get_provider("microsoft"))
    # The company's Calendar and Contacts, when on, are consented for everyone too.
    features = [
        scope
        for kind in (CALENDAR, CONTACTS)
        if company_allows(actor.organisation, kind)
        for scope in microsoft.scopes_for_feature(kind)
    ]
    return microsoft.admin_consent_url(
        redirect_uri=redirect_uri, state=state, level=sync_level_for(actor), extra_scopes=features
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


class HealthActionRefused(Exception):
    """A Sync health action the policy refuses, or that cannot apply to this mailbox."""


def _health_mailbox(actor: User, mailbox_id: int) -> MailboxConnection:
    mailbox = (
        visible_health_mailboxes(actor).select_related("user", "organisation").filter(pk=mailbox_id)
    ).first()
    if mailbox is None:
        raise HealthActionRefused("No such mailbox in your organisation.")
    status = mailbox_status(mailbox)
    if not status.may_read:
        raise HealthActionRefused(f"{mailbox.account_address} is not synced: {status.why_not_read}")
    return mailbox


def _health_audit(actor: User, mailbox: MailboxConnection, event: audit.Event) -> None:
    # On the organisation, so Settings > Company's history lists it; the mailbox is named
    # by its owner, never by anything from its mail.
    audit.record_for_organisation(
        event=event,
        organisation=mailbox.organisation,
        summary=f"mailbox of {mailbox.user.get_full_name() or mailbox.user.email}",
        counts={"mailbox": mailbox.pk},
        actor=actor,
    )


@transaction.atomic
def mailbox_sync_request(*, actor: User, mailbox_id: int) -> MailboxConnection:
    """An Admin asks for a round now (Sync health). Audited; the caller queues the round
    once this commits. A throttled mailbox still waits for its provider."""
    mailbox = _health_mailbox(actor, mailbox_id)
    _health_audit(actor, mailbox, audit.Event.SYNC_REQUESTED)
    return mailbox


@transaction.atomic
def mailbox_cursor_reset(*, actor: User, mailbox_id: int) -> MailboxConnection:
    """An Admin resets a mailbox's cursor (Sync health), for a mailbox stuck on a cursor
    the provider keeps refusing. The next round re-reads the threads already known, as
    for an expired cursor (bounded recovery), so nothing is lost and nothing doubles:
    messages already stored are recognised by their provider ids. Audited."""
    mailbox = _health_mailbox(actor, mailbox_id)
    MailboxConnection.objects.filter(pk=mailbox.pk).update(cursor="", throttled_until=None)
    _health_audit(actor, mailbox, audit.Event.CURSOR_RESET)
    return mailbox


def sync_leases_sweep() -> int:
    """Beat: free the sync and token-refresh leases whose holders died (they ran out
    without being given back), so that the health page no longer shows those mailboxes
    as syncing. Expired leases are already free to take; this only tidies the rows."""
    now = timezone.now()
    freed = MailboxConnection.objects.filter(sync_claimed_until__lt=now).update(
        sync_claimed_until=None, sync_claim=""
    )
    MailboxConnection.objects.filter(token_refresh_claimed_until__lt=now).update(
        token_refresh_claimed_until=None, token_refresh_claim=""
    )
    if freed:
        logger.warning("Freed %d sync leases held by stopped workers", freed)
    return freed


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
        if mailbox.throttled_until is not None and mailbox.throttled_until > timezone.now():
            # However the round was asked for (beat, Sync now, a command): the provider's
            # Retry-After holds until it has passed.
            return SyncReport(status="throttled", error=mailbox.last_error)
        started = time.monotonic()
        with requests_counted() as tally:
            report = _sync_round_guarded(mailbox_id, mailbox)
        _log_round(mailbox, report, tally, time.monotonic() - started)
        return report
    finally:
        SYNC_LEASE.release(mailbox_id, token)


# One line per sync round for operators' log pipelines: ids, counts and timings only, never
# an address, a subject or a body (tests/mailsync/test_sync_health.py checks the line).
ROUND_LOGGER = logging.getLogger("mailsync.rounds")
ROUND_COUNTS = (
    "seen",
    "of_interest",
    "stored",
    "skipped",
    "removed",
    "deleted",
    "header_checks",
    "past_retention",
)


def _log_round(
    mailbox: MailboxConnection, report: SyncReport, tally: RequestTally, seconds: float
) -> None:
    fields: dict[str, object] = {
        "mailbox": mailbox.pk,
        "organisation": mailbox.organisation_id,
        "provider": mailbox.provider,
        "status": report.status,
        **{name: getattr(report, name) for name in ROUND_COUNTS},
        "recovered": report.recovered,
        "more": report.more,
        "requests": tally.requests,
        "retries": tally.retries,
        "quota_units": tally.quota_units,
        "duration_ms": round(seconds * 1000),
    }
    record_round(
        provider=mailbox.provider,
        status=report.status,
        requests=tally.requests,
        retries=tally.retries,
        quota_units=tally.quota_units,
    )
    ROUND_LOGGER.info(
        "sync_round %s",
        " ".join(f"{name}={value}" for name, value in fields.items()),
        extra={"sync_round": fields},
    )


def _sync_round_guarded(mailbox_id: int, mailbox: MailboxConnection) -> SyncReport:
    try:
        return sync_round(mailbox)
    except CONNECTION_LOST:
        # Not this mailbox's fault, and nothing to write it down with: the task retries
        # the round on a new connection (the cursor moves only when a round completes).
        raise
    except Exception as unexpected:
        # Whatever went wrong is this mailbox's alone: say so on its row, where its owner
        # and admins look, and let the next round try again.
        logger.exception("Sync of mailbox %s failed unexpectedly", mailbox_id)
        now = timezone.now()
        MailboxConnection.objects.filter(pk=mailbox_id).update(
            last_error="Sync failed unexpectedly; it will be tried again next round.",
            last_error_at=now,
        )
        record_round_failed(mailbox_id, now)
        return SyncReport(status="failed", error=type(unexpected).__name__)


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
    refusal = company_send_refusal(actor)
    if refusal:
        raise SendError(refusal)
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
            cc=draft.cc,
            bcc=draft.bcc,
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
    DraftAttachment.objects.filter(user=actor, pk__in=draft.kept_attachment_ids).delete()
    message.refresh_from_db()
    return message


def draft_attachments_keep(
    *, actor: User, attachments: Sequence[OutgoingAttachment]
) -> list[DraftAttachment]:
    """The files of a compose form the server refused, kept for the next try."""
    with transaction.atomic():
        return draft_attachments_store(user=actor, attachments=attachments)


def draft_attachments_clean_up() -> int:
    """Beat, daily: kept files older than a day are removed."""
    return draft_attachments_expire()


# --- Importing a candidate's mail ---------------------------------------------------------

# An active job untouched this long, with no worker holding it, is queued again.
IMPORT_STALLED_SECONDS = 30


def candidate_import_start(
    *, actor: User, candidate: Candidate, include_removed: bool = False
) -> ImportJob:
    """Import everything between the actor's mailbox and the candidate, in a worker: the
    job already running for them (never two), or a new one queued once this commits.
    `include_removed`: the user confirmed that removed mail of theirs comes back."""
    if not can_edit_candidate(actor, candidate):
        raise ImportRefused("You may not import email for this candidate.")
    mailbox = mailbox_for(user=actor)
    status = mailbox_status(mailbox)
    if not status.may_read:
        raise ImportRefused(status.why_not_read)
    assert mailbox is not None  # may_read: mailbox_status found a connected mailbox
    active = _import_active(actor, candidate)
    if active is not None:
        _import_requeue_if_stalled(active)
        return active
    try:
        with transaction.atomic():
            if include_removed:
                removed_mail_restore(actor=actor, candidate=candidate, mailbox=mailbox)
            job = ImportJob.objects.create(
                user=actor, candidate=candidate, mailbox=mailbox, include_removed=include_removed
            )
            audit.record(
                actor=actor,
                event=audit.Event.IMPORT_STARTED,
                candidate_id=candidate.pk,
                about=job,
                counts={"include_removed": int(include_removed)},
            )
            transaction.on_commit(partial(_import_enqueue, job.pk))
    except IntegrityError:
        # Another click (another tab, a double submit) started it a moment earlier.
        active = _import_active(actor, candidate)
        if active is None:
            raise
        return active
    return job


def _import_active(actor: User, candidate: Candidate) -> ImportJob | None:
    return ImportJob.objects.filter(
        user=actor, candidate=candidate, state__in=ImportJob.ACTIVE_STATES
    ).first()


def _import_enqueue(job_id: uuid.UUID) -> None:
    # Imported here: the tasks module imports this one.
    from mailsync.tasks import run_import_job

    run_import_job.delay(str(job_id))


def _import_requeue_if_stalled(job: ImportJob) -> None:
    """A job whose worker died (its lease ran out) or that no worker took is queued again;
    the lease makes a second delivery of a live job harmless."""
    if str(job.pk) in import_jobs_stalled(older_than_seconds=IMPORT_STALLED_SECONDS):
        transaction.on_commit(partial(_import_enqueue, job.pk))


def import_jobs_resume() -> int:
    """Beat's sweep: queue again every job a killed worker left (see `import_jobs_stalled`)."""
    stalled = import_jobs_stalled(older_than_seconds=settings.MAILSYNC_IMPORT_LEASE_SECONDS)
    for job_id in stalled:
        transaction.on_commit(partial(_import_enqueue, uuid.UUID(job_id)))
    return len(stalled)


def candidate_import_cancel(*, actor: User, job: ImportJob) -> ImportJob:
    """Stop the actor's own job: at once if no worker has it yet, otherwise before the
    worker's next step (what the steps so far stored stays)."""
    if job.user_id != actor.pk:
        raise ImportRefused("You may cancel only your own import.")
    ImportJob.objects.filter(pk=job.pk, state__in=ImportJob.ACTIVE_STATES).update(
        cancel_requested=True
    )
    job.refresh_from_db()
    if job.state == ImportJob.State.QUEUED and job.cancel_requested:
        import_job_end(job, ImportJob.State.CANCELLED, only_from=[ImportJob.State.QUEUED])
        job.refresh_from_db()
    return job


def candidate_import_run(*, job_id: uuid.UUID | str) -> ImportRunOutcome:
    """A worker's run of an import job: hold it, work through it step by step (saving
    after each), and end it finished, cancelled or failed; or hand over to a fresh task
    after MAILSYNC_IMPORT_SLICE_SECONDS. A job held by another worker is left alone."""
    token = IMPORT_LEASE.take(job_id, seconds=settings.MAILSYNC_IMPORT_LEASE_SECONDS)
    if token is None:
        return ImportRunOutcome("busy")
    try:
        return import_job_run_held(job_id, token)
    finally:
        IMPORT_LEASE.release(job_id, token)


# --- Automatic ingestion ---------------------------------------------------------------


def ingestion_start(*, mailbox: MailboxConnection) -> IngestionJob | None:
    """Start automatic ingestion of `mailbox` (its one-on-one conversations with the
    organisation's candidates, a year back, active in the last six months) in a worker,
    once this commits. None, doing nothing, when ingestion is off or not allowed for the
    mailbox (see policy.ingestion_allowed) or a job of the mailbox is already queued or
    running (a stalled one is queued again). Called when a user authorizes, and by the
    company settings when a Super Admin turns the switch on for connected users."""
    mailbox = MailboxConnection.objects.select_related("organisation", "user").get(pk=mailbox.pk)
    if not ingestion_allowed(mailbox):
        return None
    active = IngestionJob.objects.filter(
        mailbox=mailbox, state__in=[IngestionJob.State.QUEUED, IngestionJob.State.RUNNING]
    ).first()
    if active is not None:
        if active.pk in ingestion_jobs_stalled(older_than_seconds=IMPORT_STALLED_SECONDS):
            transaction.on_commit(partial(_ingestion_enqueue, active.pk))
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            job = IngestionJob.objects.create(
                mailbox=mailbox, since=history_start(now), active_since=active_since(now)
            )
            transaction.on_commit(partial(_ingestion_enqueue, job.pk))
    except IntegrityError:
        return None  # another authorization started one a moment ago
    return job


def organisation_change_auto_ingestion(
    *, actor: User, organisation: Organisation, enabled: bool
) -> int:
    """The company's Automatic ingestion switch. Turned on, every user already connected
    whose mailbox may be read gets an ingestion job (as they would on authorizing); turned
    off, running jobs stop at their next step (see ingestion.py) and what was ingested
    stays. Returns how many jobs were started."""
    with transaction.atomic():
        changed = organisation_set_auto_ingestion(
            actor=actor, organisation=organisation, enabled=enabled
        )
        if not (changed and enabled):
            return 0
        connected = MailboxConnection.objects.filter(
            organisation=organisation, state=MailboxConnection.State.CONNECTED, uses_email=True
        ).select_related("organisation", "user")
        return sum(1 for mailbox in connected if ingestion_start(mailbox=mailbox) is not None)


def _ingestion_enqueue(job_id: int) -> None:
    # Imported here: the tasks module imports this one.
    from mailsync.tasks import run_ingestion_job

    run_ingestion_job.delay(job_id)


def ingestion_run(*, job_id: int) -> ImportRunOutcome:
    """A worker's run of an ingestion job (see mailsync.ingestion): held by one worker at
    a time, saved after each step, handed over to a fresh task after a slice of time."""
    return ingestion_job_run(job_id)


def ingestion_jobs_resume() -> int:
    """Beat's sweep: queue again every ingestion job a killed worker left."""
    stalled = ingestion_jobs_stalled(older_than_seconds=settings.MAILSYNC_IMPORT_LEASE_SECONDS)
    for job_id in stalled:
        transaction.on_commit(partial(_ingestion_enqueue, job_id))
    return len(stalled)


# --- Adding a thread from the mailbox -----------------------------------------------------


def mailbox_thread_attach(
    *, actor: User, provider_thread_id: str, candidate: Candidate
) -> Attached:
    """Bring one conversation of the actor's mailbox onto a candidate they may see."""
    if not can_edit_candidate(actor, candidate):
        raise MailboxThreadRefused("Choose one of the candidates you can see.", field="candidate")
    return _mailbox_thread_add(
        actor=actor, provider_thread_id=provider_thread_id, candidate_for=lambda: candidate
    )


def mailbox_thread_attach_new_candidate(
    *, actor: User, provider_thread_id: str, full_name: str, address: str
) -> Attached:
    """A new candidate from the conversation's counterpart, with the conversation on it.
    An address another candidate has is refused; which candidate is named only when the
    actor may see them."""
    if not can_create_candidate(actor):
        raise MailboxThreadRefused("You may not add candidates.")
    if not full_name.strip():
        raise MailboxThreadRefused("Enter the candidate's name.", field="full_name")
    try:
        address = normalise_email_address(address)
    except ValidationError:
        raise MailboxThreadRefused("Enter a valid email address.", field="email") from None
    holder = visible_candidates(actor).filter(emails__address=address).first()
    if holder is not None:
        raise MailboxThreadRefused(
            f"{holder.full_name} already has this address: attach the thread to them instead.",
            field="email",
        )

    def create() -> Candidate:
        try:
            return candidate_create(actor=actor, full_name=full_name, email=address)
        except CandidateError as error:
            raise MailboxThreadRefused(str(error), field=error.field) from error

    return _mailbox_thread_add(
        actor=actor, provider_thread_id=provider_thread_id, candidate_for=create
    )


def _mailbox_thread_add(
    *, actor: User, provider_thread_id: str, candidate_for: Callable[[], Candidate]
) -> Attached:
    mailbox = readable_mailbox(actor)
    linked = threads_in_threadline(actor, mailbox, [provider_thread_id])
    if provider_thread_id in linked:
        raise AlreadyInThreadline(linked[provider_thread_id])
    fetched = thread_fetch_from(mailbox, provider_thread_id)
    with transaction.atomic():
        candidate = candidate_for()
        attached = thread_import(mailbox, fetched, candidate)
        audit.record(
            actor=actor,
            event=audit.Event.ADDED_FROM_MAILBOX,
            candidate_id=candidate.pk,
            about=attached.thread,
            counts={"messages": attached.stored},
        )
        transaction.on_commit(partial(label_attached, mailbox, fetched))
    return attached


# --- Removing from Threadline -------------------------------------------------------------


def _require_may_remove(actor: User, thread: EmailThread) -> None:
    if not (
        visible_threads(actor).filter(pk=thread.pk).exists()
        and can_remove_from_threadline(actor, thread)
    ):
        raise RemovalRefused(REMOVAL_REFUSED)


def thread_remove(*, actor: User, thread: EmailThread) -> int:
    """Remove a thread from Threadline for everyone: its messages and their attachments
    are deleted and tombstoned so that no sync, import or routed copy brings them back.
    The mailboxes are not touched. Returns how many messages were removed."""
    _require_may_remove(actor, thread)
    with transaction.atomic():
        if thread_locked(thread) is None:
            return 0  # removed a moment ago
        removed = tombstones_write(actor=actor, thread=thread, messages=thread.messages.all())
        audit.record(
            actor=actor,
            event=audit.Event.REMOVED_THREAD,
            candidate_id=thread.candidate_id,
            about=thread,
            counts={"messages": removed},
        )
        thread.delete()
    return removed


def message_remove(*, actor: User, message: EmailMessage) -> bool:
    """Remove one message from Threadline for everyone (its attachments with it, a
    tombstone in its place), as `thread_remove` does for a thread; its thread's activity
    is worked out again from the messages left. The last message takes its thread with it.
    Returns whether the thread was removed too."""
    thread = message.thread
    _require_may_remove(actor, thread)
    with transaction.atomic():
        if thread_locked(thread) is None:
            return True
        tombstones_write(
            actor=actor, thread=thread, messages=EmailMessage.objects.filter(pk=message.pk)
        )
        thread_goes = not thread.messages.exclude(pk=message.pk).exists()
        audit.record(
            actor=actor,
            event=audit.Event.REMOVED_MESSAGE,
            candidate_id=thread.candidate_id,
            about=message,
            counts={"messages": 1, "threads": int(thread_goes)},
        )
        if thread_goes:
            thread.delete()  # the message and its attachments go with it
        else:
            message.delete()
            activity_recompute(thread)
    return thread_goes


def removed_mail_restore(*, actor: User, candidate: Candidate, mailbox: MailboxConnection) -> int:
    """The user chose to bring back what they import: the candidate's removed messages
    that were in their mailbox, or that they removed themselves, may come back with their
    next import (`selectors.removed_count_for` counts them; nothing else is restored).
    Returns how many messages that is."""
    if mailbox.user_id != actor.pk or not can_edit_candidate(actor, candidate):
        raise RemovalRefused("You may bring back removed email only into your own import.")
    with transaction.atomic():
        tombstones = restorable_tombstones_all_copies(mailbox=mailbox, candidate_id=candidate.pk)
        messages = tombstones.values("message_id_digest").distinct().count()
        tombstones.delete()
    return messages


# --- Seats and suspension -----------------------------------------------------------------

# What the deactivated user's connection says on its admin page.
SEAT_RELEASED_REASON = (
    "This user's seat was released: Threadline's access to the mailbox, calendar and "
    "contacts was withdrawn."
)


class SeatRefused(Exception):
    """The actor may not release this user's seat; the message is for them."""


def user_seat_release(*, user: User) -> bool:
    """Stop everything Threadline does with `user`'s accounts, for a user who was
    deactivated or left the organisation (their seat goes to someone else, who is invited
    as a user of their own). The connection's tokens are forgotten in this transaction and
    revoked at the provider after the commit; Email, Calendar and Contacts all stop, and
    so do the user's imports and ingestion. What was synced stays: their private threads
    are seen by their owner only (candidates.policy.visible_threads), and an inactive or
    departed owner sees nothing, so those threads are kept for retention and shown to no
    one; shared threads stay visible to the team. Returns whether tokens were dropped."""
    with transaction.atomic():
        mailbox = MailboxConnection.objects.select_for_update().filter(user=user).first()
        dropped = mailbox is not None and mailbox.state != MailboxConnection.State.DISCONNECTED
        if mailbox is not None and dropped:
            _revoke_after_commit(
                [_forget_tokens(mailbox, state=MailboxConnection.State.DISCONNECTED)]
            )
            mailbox.deauthorized_at = mailbox.last_error_at = timezone.now()
            mailbox.last_error = SEAT_RELEASED_REASON
            mailbox.save(update_fields=["deauthorized_at", "last_error", "last_error_at"])
        if mailbox is not None:
            mailbox.ingestion_jobs.filter(
                state__in=[IngestionJob.State.QUEUED, IngestionJob.State.RUNNING]
            ).update(state=IngestionJob.State.CANCELLED, finished_at=timezone.now())
        for job in ImportJob.objects.filter(user=user, state__in=ImportJob.ACTIVE_STATES):
            # A queued job ends now; a running one stops before its worker's next step.
            ImportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
            import_job_end(job, ImportJob.State.CANCELLED, only_from=[ImportJob.State.QUEUED])
        PendingAuthorization.objects.filter(user=user).delete()
        DraftAttachment.objects.filter(user=user).delete()
        for kind in IntegrationPermission.Kind.values:
            permission_set(user, kind, IntegrationPermission.State.OFF)
    return dropped


def user_deactivate(*, actor: User, user: User) -> bool:
    """Django admin's "Deactivate and revoke mailbox": the user can no longer sign in and
    their seat is released (`user_seat_release`), in one transaction. Returns whether
    tokens were dropped."""
    if actor.pk == user.pk:
        raise SeatRefused("You cannot deactivate your own account.")
    if not can_change_user(actor, user):
        raise SeatRefused(f"You may not deactivate {user.email}.")
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        return user_seat_release(user=user)


def organisation_purge_mailbox_data(
    *, actor: User | None, organisation: Organisation, via: str
) -> dict[str, int]:
    """Suspension: delete every record Threadline derived from the organisation's
    mailboxes and calendars (see mailsync/purge.py for what goes and what stays) in one
    transaction, with one audit entry of counts, and revoke every token it held at the
    provider after the commit. `actor` is None from the command line (`via` names the
    door). Returns the rows deleted per model label."""
    with transaction.atomic():
        connections = MailboxConnection.objects.select_for_update().filter(
            organisation=organisation
        )
        revocations = [
            _Revocation(mailbox.pk, mailbox.provider, credentials)
            for mailbox in connections
            if (credentials := json.loads(mailbox.credentials or "{}"))
        ]
        counts = mailbox_data_delete(organisation)
        purge_record(actor=actor, organisation=organisation, counts=counts, via=via)
        _revoke_after_commit(revocations)
    return counts


def retention_sweep(*, organisation_id: int, dry_run: bool = False) -> RetentionReport:
    """Remove the organisation's threads with no message sent or received for its
    retention period (retention.py), in bounded batches, each its own transaction; running
    it again removes nothing more. No tombstone: a later reply is synced again, alone.
    Logs the count, and records one audit entry on the organisation when any went.
    `dry_run`: only count what would go."""
    organisation = Organisation.objects.get(pk=organisation_id)
    months = organisation.retention_months
    cutoff = retention_cutoff(months=months, now=timezone.now())
    if dry_run:
        due = threads_due(organisation_id=organisation_id, cutoff=cutoff).count()
        return RetentionReport(organisation_id, months, cutoff, due, dry_run=True)
    removed = 0
    while batch := threads_retire_batch(organisation_id=organisation_id, cutoff=cutoff):
        removed += batch
    logger.info(
        "Retention: organisation %s, %d threads with no message for %d months removed",
        organisation_id,
        removed,
        months,
    )
    if removed:
        audit.record_for_organisation(
            event=audit.Event.RETENTION_APPLIED,
            organisation=organisation,
            summary=f"{removed} thread{'s' if removed != 1 else ''} with no message "
            f"for {months} month{'s' if months != 1 else ''} removed",
            counts={"threads": removed, "months": months},
        )
    return RetentionReport(organisation_id, months, cutoff, removed, dry_run=False)
