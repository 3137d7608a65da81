from typing import Any

from accounts import policy
from accounts.models import IntegrationPermission, User


def integration_permissions_for(*, user: User) -> dict[str, IntegrationPermission]:
    """The user's three permission boxes, in display order; unsaved rows mean "never ticked"."""
    existing = {p.kind: p for p in IntegrationPermission.objects.filter(user=user)}
    return {
        kind: existing.get(kind) or IntegrationPermission(user=user, kind=kind)
        for kind in IntegrationPermission.Kind.values
    }


def company_settings_history(*, user: User, limit: int = 20) -> list[Any]:
    """The latest audited changes (auditlog's untyped LogEntry rows) to the company
    settings, newest first, with authors.
    Each entry's content type comes along: describing its changes reads it."""
    entries = policy.visible_audit_entries(user).select_related("actor", "content_type")
    return list(entries[:limit])
