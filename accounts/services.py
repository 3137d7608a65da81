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
    organisation.name = name.strip()
    organisation.email_provider = email_provider
    organisation.microsoft_authorization_mode = microsoft_authorization_mode
    organisation.save(update_fields=["name", "email_provider", "microsoft_authorization_mode"])
    return organisation


def organisation_record_admin_consent(
    *, actor: User, organisation: Organisation, tenant_id: str
) -> Organisation:
    """The organisation's Microsoft 365 admin consented for every user of `tenant_id`."""
    _require_super_admin(actor, organisation)
    organisation.microsoft_tenant_id = tenant_id
    organisation.microsoft_admin_consent_at = timezone.now()
    organisation.save(update_fields=["microsoft_tenant_id", "microsoft_admin_consent_at"])
    return organisation
