"""Who may see and change candidates, postings and email threads.

The roles themselves, and every decision that is not about candidates, live in
accounts/policy.py; this module builds on its helpers so that a role is still compared in
one place. Visibility functions return querysets so that lists, counts, searches and
single-object lookups share one definition of "what this user may see".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from accounts.models import Role
from accounts.policy import ADMIN_ROLES, can_use_app, has_role, is_member
from candidates.models import (
    Application,
    Candidate,
    EmailAttachment,
    EmailMessage,
    EmailThread,
    Posting,
)

if TYPE_CHECKING:
    from accounts.models import User


# --- Candidates -------------------------------------------------------------------------


def visible_candidates(user: User) -> QuerySet[Candidate]:
    """The candidates `user` may see. Limited Team Members: only those who applied to a
    posting whose hiring team they are on."""
    if not can_use_app(user):
        return Candidate.objects.none()
    # can_use_app() admits members only, whose organisation_id is set (django-stubs cannot
    # narrow an attribute through a TypeGuard on the user).
    candidates = Candidate.objects.filter(organisation_id=user.organisation_id)  # type: ignore[misc]
    if user.role == Role.LIMITED_TEAM_MEMBER:
        on_my_postings = Application.objects.filter(posting__hiring_team=user)
        candidates = candidates.filter(pk__in=on_my_postings.values("candidate_id"))
    return candidates


def visible_postings(user: User) -> QuerySet[Posting]:
    if not can_use_app(user):
        return Posting.objects.none()
    # can_use_app() admits members only, whose organisation_id is set.
    postings = Posting.objects.filter(organisation_id=user.organisation_id)  # type: ignore[misc]
    if user.role == Role.LIMITED_TEAM_MEMBER:
        postings = postings.filter(hiring_team=user)
    return postings


def can_create_candidate(user: User) -> bool:
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
    if not can_use_app(user):
        return EmailThread.objects.none()
    visibility = EmailThread.Visibility
    # A subquery rather than a join on messages, so that a thread appears once however
    # many of its messages the user wrote.
    wrote_in = EmailMessage.objects.filter(sender=user)
    if has_role(user, *ADMIN_ROLES):
        secret_ok = Q(visibility=visibility.SECRET)
    else:
        secret_ok = Q(visibility=visibility.SECRET, pk__in=wrote_in.values("thread_id"))
    return EmailThread.objects.filter(
        Q(owner=user) | Q(visibility=visibility.TEAM) | secret_ok,
        # can_use_app() admits members only, whose organisation_id is set.
        organisation_id=user.organisation_id,  # type: ignore[misc]
        candidate__in=visible_candidates(user),
    )


def visible_attachments(user: User) -> QuerySet[EmailAttachment]:
    return EmailAttachment.objects.filter(message__thread__in=visible_threads(user))


def can_change_thread_visibility(user: User, thread: EmailThread) -> bool:
    """Only a thread's owner decides who else sees it. Callers pass a thread they found
    through `visible_threads`, so the owner is still allowed to see its candidate."""
    return (
        is_member(user)
        and thread.owner_id == user.pk
        and thread.organisation_id == user.organisation_id
    )
