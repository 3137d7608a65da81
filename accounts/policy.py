"""Who may do what. Every role is compared here and nowhere else.

Views, selectors, querysets and Django admin call these functions; none of them compares
roles itself. The apps above accounts build their own decisions on these helpers:
candidates/policy.py (candidates, postings, threads) and inbound/policy.py (routed mail
counts). Visibility functions return querysets so that lists, counts, searches and
single-object lookups share one definition of "what this user may see".

Two kinds of people sign in:
- members of an organisation, with one of the four roles;
- the installation's operators (Django superusers without an organisation), who run the
  service and reach Django admin for every organisation, but see no candidates in the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

from django.db.models import Model, QuerySet

from accounts.models import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

    # Types only (no import at run time): the visibility rules below return these models.

    # Whoever a request carries: a signed-in user, an anonymous visitor, or no one.
    AnyUser = User | AnonymousUser | None

ADMIN_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN})


def is_member(user: AnyUser) -> TypeGuard[User]:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.organisation_id is not None
    )


def is_operator(user: AnyUser) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


def has_role(user: AnyUser, *roles: Role) -> TypeGuard[User]:
    return is_member(user) and user.role in roles


# --- Pages ------------------------------------------------------------------------------


def can_use_app(user: AnyUser) -> bool:
    """Candidate pages and personal settings: any active member of an organisation."""
    return is_member(user)


def can_manage_company_settings(user: AnyUser) -> bool:
    """Settings > Company, where email sync is configured: Super Admins only."""
    return has_role(user, Role.SUPER_ADMIN)


def can_see_sync_health(user: AnyUser) -> bool:
    """Settings > Sync health, every mailbox of the organisation with Sync now and Reset
    cursor: Admins and Super Admins (who answer for the organisation's mail)."""
    return has_role(user, *ADMIN_ROLES)


def can_access_admin(user: AnyUser) -> bool:
    return is_operator(user) or has_role(user, *ADMIN_ROLES)


def visible_audit_entries(user: User) -> QuerySet[Any]:
    """The audit log of the company settings: a Super Admin's own organisation only
    (operators read every entry in Django admin)."""
    from auditlog.models import LogEntry

    if not can_manage_company_settings(user):
        # auditlog ships no types: its querysets are Any.
        return LogEntry.objects.none()  # type: ignore[no-any-return]
    return LogEntry.objects.get_for_object(user.organisation)  # type: ignore[no-any-return]


# --- Users and roles --------------------------------------------------------------------


def assignable_roles(actor: AnyUser) -> list[Role]:
    """Roles `actor` may give to someone. Only Super Admins create Super Admins."""
    if is_operator(actor) or has_role(actor, Role.SUPER_ADMIN):
        return list(Role)
    if has_role(actor, Role.ADMIN):
        return [Role.ADMIN, Role.TEAM_MEMBER, Role.LIMITED_TEAM_MEMBER]
    return []


def can_change_user(actor: User, target: User | None) -> bool:
    if is_operator(actor):
        return True
    if not has_role(actor, *ADMIN_ROLES):
        return False
    if target is None:
        return True
    if target.organisation_id != actor.organisation_id:
        return False
    return target.role != Role.SUPER_ADMIN or actor.role == Role.SUPER_ADMIN


# --- Django admin -----------------------------------------------------------------------

# What organisation members may do with each model in admin, keyed by "app_label.model".
# Models not listed here (third-party ones: beat schedules, allauth tables) are for the
# installation's operators only.
_ADMIN_RULES: dict[str, dict[str, frozenset[Role]]] = {
    "accounts.organisation": {
        "view": ADMIN_ROLES,
        "change": frozenset({Role.SUPER_ADMIN}),
    },
    "accounts.user": {"view": ADMIN_ROLES, "add": ADMIN_ROLES, "change": ADMIN_ROLES},
    "accounts.integrationpermission": {"view": ADMIN_ROLES},
    "mailsync.mailboxconnection": {"view": ADMIN_ROLES},
    **{
        f"candidates.{name}": {
            "view": ADMIN_ROLES,
            "add": ADMIN_ROLES,
            "change": ADMIN_ROLES,
            "delete": ADMIN_ROLES,
        }
        for name in ("candidate", "candidateemail", "posting", "application")
    },
}


def admin_may(
    user: User,
    action: str,
    model: type[Model],
    obj: Model | None = None,
    *,
    organisation_field: str | None = None,
) -> bool:
    """May `user` take `action` on `model` (and on `obj`, when given) in Django admin?
    `organisation_field` is as for `admin_queryset`."""
    if is_operator(user):
        return True
    rules = _ADMIN_RULES.get(model._meta.label_lower, {})
    if not has_role(user, *rules.get(action, frozenset())):
        return False
    if obj is None:
        return True
    if model._meta.label_lower == "accounts.user" and action != "view":
        # The label says `obj` is a User.
        return can_change_user(user, obj)  # type: ignore[arg-type]
    rows = model._default_manager.filter(pk=obj.pk)
    return admin_queryset(user, rows, organisation_field=organisation_field).exists()


def admin_queryset(
    user: User, queryset: QuerySet[Any], *, organisation_field: str | None
) -> QuerySet[Any]:
    """Restrict an admin list to the user's organisation.

    `organisation_field` is the lookup path from the listed model to its organisation's id
    ("organisation", "candidate__organisation", "pk" for organisations themselves); each
    model admin declares its own, so this module need not know the other apps' models.
    Without one, members see no rows at all.
    """
    if is_operator(user):
        return queryset
    if not has_role(user, *ADMIN_ROLES) or not organisation_field:
        return queryset.none()
    return queryset.filter(**{organisation_field: user.organisation_id})
