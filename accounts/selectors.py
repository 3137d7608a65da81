from accounts.models import IntegrationPermission, User


def integration_permissions_for(*, user: User) -> dict[str, IntegrationPermission]:
    """The user's three permission boxes, in display order; unsaved rows mean "never ticked"."""
    existing = {p.kind: p for p in IntegrationPermission.objects.filter(user=user)}
    return {
        kind: existing.get(kind) or IntegrationPermission(user=user, kind=kind)
        for kind in IntegrationPermission.Kind.values
    }
