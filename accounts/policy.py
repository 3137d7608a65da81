"""Who may do what. Every role decision in Threadline is made here and nowhere else.

Views, selectors, querysets and Django admin call these functions; none of them compares
roles itself. Visibility functions return querysets so that lists, counts, searches and
single-object lookups share one definition of "what this user may see".

Two kinds of people sign in:
- members of an organisation, with one of the four roles;
- the installation's operators (Django superusers without an organisation), who run the
  service and reach Django admin for every organisation, but see no candidates in the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

from django.apps import apps
from django.db.models import Model, Q, QuerySet

from accounts.models import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User

    # Types only (no import at run time): the visibility rules below return these models.
    from candidates.models import Candidate, EmailAttachment, EmailThread, Posting

    # Whoever a request carries: a signed-in user, an anonymous visitor, or no one.
    AnyUser = User | AnonymousUser | None

ADMIN_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN})


def _is_member(user: AnyUser) -> TypeGuard[User]:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.organisation_id is not None
    )


def is_operator(user: AnyUser) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


def has_role(user: AnyUser, *roles: Role) -> TypeGuard[User]:
    return _is_member(user) and user.role in roles


# --- Pages ------------------------------------------------------------------------------


def can_use_app(user: AnyUser) -> bool:
    """Candidate pages and personal settings: any active member of an organisation."""
    return _is_member(user)


def can_manage_company_settings(user: AnyUser) -> bool:
    """Settings > Company, where email sync is configured: Super Admins only."""
    return has_role(user, Role.SUPER_ADMIN)


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


def visible_inbound_tallies(user: User) -> QuerySet[Any]:
    """Counts of routed mail received for the organisation: Super Admins, who set it up."""
    model = apps.get_model("inbound", "DailyTally")
    if not can_manage_company_settings(user):
        return model.objects.none()
    # A member's organisation_id is set (checked above); the field allows None for operators.
    return model.objects.filter(organisation_id=user.organisation_id)  # type: ignore[misc]


# --- Candidates -------------------------------------------------------------------------


def visible_candidates(user: User) -> QuerySet[Candidate]:
    """The candidates `user` may see. Limited Team Members: only those who applied to a
    posting whose hiring team they are on."""
    candidate_model = apps.get_model("candidates", "Candidate")
    if not can_use_app(user):
        return candidate_model.objects.none()
    # A member (checked above): organisation_id is set, though the field allows None.
    candidates = candidate_model.objects.filter(organisation_id=user.organisation_id)  # type: ignore[misc]
    if user.role == Role.LIMITED_TEAM_MEMBER:
        application_model = apps.get_model("candidates", "Application")
        on_my_postings = application_model.objects.filter(posting__hiring_team=user)
        candidates = candidates.filter(pk__in=on_my_postings.values("candidate_id"))
    return candidates


def visible_postings(user: User) -> QuerySet[Posting]:
    posting_model = apps.get_model("candidates", "Posting")
    if not can_use_app(user):
        return posting_model.objects.none()
    # A member (checked above): organisation_id is set, though the field allows None.
    postings = posting_model.objects.filter(organisation_id=user.organisation_id)  # type: ignore[misc]
    if user.role == Role.LIMITED_TEAM_MEMBER:
        postings = postings.filter(hiring_team=user)
    return postings


def can_create_candidate(user: AnyUser) -> bool:
    # A Limited Team Member could not see a candidate who has not applied to one of their
    # postings, so creating one is left to the rest of the team.
    return has_role(user, Role.SUPER_ADMIN, Role.ADMIN, Role.TEAM_MEMBER)


def can_edit_candidate(user: User, candidate: Candidate) -> bool:
    return visible_candidates(user).filter(pk=candidate.pk).exists()


# --- Email threads ----------------------------------------------------------------------


def visible_threads(user: User) -> QuerySet[EmailThread]:
    """The email threads `user` may see: only threads of candidates they may see, and then

    - private threads: their owner only;
    - team threads: everyone who can see the candidate;
    - secret threads: the owner, Super Admins, Admins and participants.

    Participants are the users who sent a message on the thread. Who else appears in a
    message's From/To/Cc cannot be asked of the database, because those headers are
    encrypted at rest. Lists, counts, single lookups and attachment downloads all start
    from this queryset.
    """
    thread_model = apps.get_model("candidates", "EmailThread")
    if not can_use_app(user):
        return thread_model.objects.none()
    visibility = thread_model.Visibility
    # A subquery rather than a join on messages, so that a thread appears once however
    # many of its messages the user wrote.
    wrote_in = apps.get_model("candidates", "EmailMessage").objects.filter(sender=user)
    if has_role(user, *ADMIN_ROLES):
        secret_ok = Q(visibility=visibility.SECRET)
    else:
        secret_ok = Q(visibility=visibility.SECRET, pk__in=wrote_in.values("thread_id"))
    # A member (checked above): organisation_id is set, though the field allows None.
    return thread_model.objects.filter(  # type: ignore[misc]
        Q(owner=user) | Q(visibility=visibility.TEAM) | secret_ok,
        organisation_id=user.organisation_id,
        candidate__in=visible_candidates(user),
    )


def visible_attachments(user: User) -> QuerySet[EmailAttachment]:
    attachment_model = apps.get_model("candidates", "EmailAttachment")
    return attachment_model.objects.filter(message__thread__in=visible_threads(user))


def can_change_thread_visibility(user: AnyUser, thread: EmailThread) -> bool:
    """Only a thread's owner decides who else sees it. Callers pass a thread they found
    through `visible_threads`, so the owner is still allowed to see its candidate."""
    return (
        _is_member(user)
        and thread.owner_id == user.pk
        and thread.organisation_id == user.organisation_id
    )


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


def admin_may(user: User, action: str, model: type[Model], obj: Model | None = None) -> bool:
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
    return admin_queryset(user, model._default_manager.filter(pk=obj.pk)).exists()


def admin_queryset(user: User, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Restrict an admin list to the user's organisation."""
    if is_operator(user):
        return queryset
    if not has_role(user, *ADMIN_ROLES):
        return queryset.none()
    model = queryset.model
    org_id = user.organisation_id
    if model._meta.label_lower == "accounts.organisation":
        return queryset.filter(pk=org_id)
    if model._meta.label_lower == "accounts.integrationpermission":
        return queryset.filter(user__organisation_id=org_id)
    if model._meta.label_lower == "candidates.application":
        return queryset.filter(candidate__organisation_id=org_id)
    return queryset.filter(organisation_id=org_id)
