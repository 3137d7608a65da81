from django.db import transaction
from django.utils import timezone

from accounts import policy
from accounts.models import IntegrationPermission, Organisation, User


class AccountsError(Exception):
    """A request that the rules of accounts and organisations refuse."""


@transaction.atomic
def integration_permissions_update(
    *, user: User, email: bool, calendar: bool, contacts: bool
) -> list[IntegrationPermission]:
    """Record which integrations the user consents to.

    A newly ticked box waits for the provider's authorization (the OAuth flow owned by
    `mailsync`); an unticked box turns the integration off. Boxes left as they were keep
    their state, so a connected mailbox stays connected when the user saves their name.
    """
    wanted = {
        IntegrationPermission.Kind.EMAIL: email,
        IntegrationPermission.Kind.CALENDAR: calendar,
        IntegrationPermission.Kind.CONTACTS: contacts,
    }
    changed = []
    for kind, enabled in wanted.items():
        permission, _ = IntegrationPermission.objects.select_for_update().get_or_create(
            user=user, kind=kind
        )
        if permission.enabled == enabled:
            continue
        permission.enabled = enabled
        permission.state = (
            IntegrationPermission.State.AWAITING_AUTHORIZATION
            if enabled
            else IntegrationPermission.State.OFF
        )
        permission.changed_at = timezone.now()
        permission.save(update_fields=["enabled", "state", "changed_at"])
        changed.append(permission)
    return changed


def user_update_profile(*, user: User, full_name: str) -> User:
    user.full_name = full_name.strip()
    user.save(update_fields=["full_name"])
    return user


def _require_super_admin(actor: User, organisation: Organisation) -> None:
    if not policy.can_manage_company_settings(actor) or actor.organisation_id != organisation.pk:
        raise AccountsError("Only a Super Admin of this organisation may change its settings.")


def organisation_update_settings(
    *,
    actor: User,
    organisation: Organisation,
    name: str,
    email_provider: str,
    microsoft_authorization_mode: str = Organisation.MicrosoftAuthorization.USERS,
) -> Organisation:
    _require_super_admin(actor, organisation)
    if (
        email_provider == Organisation.EmailProvider.EXCHANGE_ON_PREMISE
        and organisation.email_sync_level == Organisation.SyncLevel.LIMITED
    ):
        raise AccountsError(
            "Limited sync is not available with on-premise Exchange: switch to full sync first."
        )
    if organisation.email_provider and not email_provider:
        # Connections, synced mail and the scopes users granted all belong to a provider:
        # once chosen it may be changed (deauthorizing its users), never unchosen.
        raise AccountsError("Choose an email provider: it can be changed but not removed.")
    organisation.name = name.strip()
    organisation.email_provider = email_provider
    organisation.microsoft_authorization_mode = microsoft_authorization_mode
    organisation.save(update_fields=["name", "email_provider", "microsoft_authorization_mode"])
    return organisation


def organisation_set_integrations(
    *, actor: User, organisation: Organisation, calendar: bool, contacts: bool
) -> Organisation:
    """The company's Calendar and Contacts switches. Off stops the feature for every user
    at once (the mailbox policy asks the switch on each use) and revokes nothing, so On
    resumes it without anyone consenting again (LinkedIn's rule)."""
    _require_super_admin(actor, organisation)
    organisation.calendar_enabled = calendar
    organisation.contacts_enabled = contacts
    # save() rather than update(): django-auditlog records the change and its author.
    organisation.save(update_fields=["calendar_enabled", "contacts_enabled"])
    return organisation


def organisation_set_auto_ingestion(
    *, actor: User, organisation: Organisation, enabled: bool
) -> bool:
    """The company's Automatic ingestion switch; True if it changed. It is offered only at
    the levels that read mailboxes (View only, Send & view), so turning it on at another
    level is refused; turning it off always works. What the mailboxes do about a change
    (starting ingestion for connected users) belongs to mailsync, which calls this."""
    _require_super_admin(actor, organisation)
    if enabled and not organisation.offers_auto_ingestion:
        raise AccountsError(
            "Automatic ingestion reads mailboxes: it is offered only at the View only and "
            "Send & view email access levels."
        )
    if organisation.auto_ingestion_enabled == enabled:
        return False
    organisation.auto_ingestion_enabled = enabled
    # save() rather than update(): django-auditlog records the change and its author.
    organisation.save(update_fields=["auto_ingestion_enabled"])
    return True


def organisation_set_retention(*, actor: User, organisation: Organisation, months: int) -> None:
    """How many months a thread may go without a message sent or received before the daily
    retention run removes it (mailsync's retention_sweep)."""
    _require_super_admin(actor, organisation)
    if not 1 <= months <= 120:
        raise AccountsError("Retention is between 1 and 120 months.")
    organisation.retention_months = months
    # save() rather than update(): django-auditlog records the change and its author.
    organisation.save(update_fields=["retention_months"])


def organisation_record_admin_consent(
    *, actor: User, organisation: Organisation, tenant_id: str
) -> Organisation:
    """The organisation's Microsoft 365 admin consented for every user of `tenant_id`."""
    _require_super_admin(actor, organisation)
    organisation.microsoft_tenant_id = tenant_id
    organisation.microsoft_admin_consent_at = timezone.now()
    organisation.save(update_fields=["microsoft_tenant_id", "microsoft_admin_consent_at"])
    return organisation


def organisation_set_sync_level(
    *,
    actor: User,
    organisation: Organisation,
    level: str,
    routing_confirmed: bool,
    microsoft_authorization_mode: str,
) -> bool:
    """Record the organisation's email sync level; True if it changed. Limited sync needs
    the Super Admin's word that the mail admin has set up routing (replies are otherwise
    lost to Threadline) and a provider that offers it. The mailboxes' side of a change
    belongs to `mailsync.services.organisation_change_sync_level`, which calls this
    inside its transaction: the level, its audit entry and the forgotten read grants
    commit together or not at all."""
    _require_super_admin(actor, organisation)
    if level not in Organisation.SyncLevel.values:
        raise AccountsError("Choose an email access level.")
    is_limited = level == Organisation.SyncLevel.LIMITED
    if is_limited and not organisation.offers_limited_sync:
        raise AccountsError("Send only is not available with on-premise Exchange.")
    if is_limited and not routing_confirmed:
        raise AccountsError(
            "Send only needs your mail admin's routing rule first: confirm it is set up."
        )
    changed = organisation.email_sync_level != level
    fields = ["email_sync_level", "routing_confirmed_at", "microsoft_authorization_mode"]
    organisation.microsoft_authorization_mode = microsoft_authorization_mode
    if changed:
        organisation.email_sync_level = level
        organisation.routing_confirmed_at = timezone.now() if is_limited else None
        if organisation.microsoft_admin_consent_at is not None:
            # The tenant-wide consent covered the other level's permissions.
            organisation.microsoft_admin_consent_at = None
            fields.append("microsoft_admin_consent_at")
    # save() rather than update(): django-auditlog records the change and its author.
    organisation.save(update_fields=fields)
    return changed
