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


def organisation_update_settings(
    *, actor: User, organisation: Organisation, name: str, email_provider: str
) -> Organisation:
    if not policy.can_manage_company_settings(actor) or actor.organisation_id != organisation.pk:
        raise AccountsError("Only a Super Admin of this organisation may change its settings.")
    organisation.name = name.strip()
    organisation.email_provider = email_provider
    organisation.save(update_fields=["name", "email_provider"])
    return organisation
