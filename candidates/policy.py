"""Who may see and change candidates, postings and email threads.

The roles themselves, and every decision that is not about candidates, live in
accounts/policy.py; this module builds on its helpers so that a role is still compared in
one place. Visibility functions return querysets so that lists, counts, searches and
single-object lookups share one definition of "what this user may see".
"""

from __future__ import annotations

from enum import StrEnum
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
    """Everyone who may see a candidate may change their name, headline, location and
    addresses; a Limited Team Member only those on their postings."""
    return visible_candidates(user).filter(pk=candidate.pk).exists()


def can_change_application_stage(user: User, application: Application) -> bool:
    """A stage belongs to a posting's pipeline: changed by those who see both the
    candidate and the posting (a Limited Team Member: only on their own postings)."""
    return (
        visible_postings(user).filter(pk=application.posting_id).exists()
        and visible_candidates(user).filter(pk=application.candidate_id).exists()
    )


# --- Email threads ----------------------------------------------------------------------


def visible_threads(user: User) -> QuerySet[EmailThread]:
    """The email threads `user` may see: only threads of candidates they may see, and then

    - private threads: their owner only;
    - team threads: everyone who can see the candidate;
    - secret threads: the owner, the user who made it secret, participants, Admins and
      Super Admins. For anyone else a secret thread does not exist.

    Participants are the users who sent a message on the thread (`EmailMessage.sender`).
    Who else appears in a message's From/To/Cc cannot be asked of the database, because
    those headers are encrypted at rest, and a header is no proof of who wrote it anyway.
    Lists, counts, single lookups and attachment downloads all start from this queryset.
    """
    if not can_use_app(user):
        return EmailThread.objects.none()
    visibility = EmailThread.Visibility
    if has_role(user, *ADMIN_ROLES):
        secret_ok = Q(visibility=visibility.SECRET)
    else:
        # A subquery rather than a join on messages, so that a thread appears once however
        # many of its messages the user wrote.
        wrote_in = EmailMessage.objects.filter(sender=user).values("thread_id")
        secret_ok = Q(visibility=visibility.SECRET) & (Q(made_secret_by=user) | Q(pk__in=wrote_in))
    return EmailThread.objects.filter(
        Q(owner=user) | Q(visibility=visibility.TEAM) | secret_ok,
        # can_use_app() admits members only, whose organisation_id is set.
        organisation_id=user.organisation_id,  # type: ignore[misc]
        candidate__in=visible_candidates(user),
    )


def visible_attachments(user: User) -> QuerySet[EmailAttachment]:
    return EmailAttachment.objects.filter(message__thread__in=visible_threads(user))


def participates_in(user: User, thread: EmailThread) -> bool:
    """Whether `user` sent a message on `thread`. Reads the thread's messages, so the
    Emails tab, which has them prefetched, asks no query per thread."""
    return any(message.sender_id == user.pk for message in thread.messages.all())


def _in_thread_organisation(user: User, thread: EmailThread) -> bool:
    return is_member(user) and thread.organisation_id == user.organisation_id


def can_change_thread_visibility(user: User, thread: EmailThread) -> bool:
    """Share with team / Make private: only a thread's owner decides who else sees it.
    Callers pass a thread they found through `visible_threads`, so the owner is still
    allowed to see its candidate. While a thread is secret neither is offered (see
    `thread_actions`): it must be made not secret first."""
    return _in_thread_organisation(user, thread) and thread.owner_id == user.pk


def can_make_thread_secret(user: User, thread: EmailThread) -> bool:
    """The owner, a participant, an Admin or a Super Admin may hide a thread they see
    from everyone else: the people in the conversation, and those who answer for the
    organisation. A colleague who merely reads a shared thread may not."""
    return _in_thread_organisation(user, thread) and (
        thread.owner_id == user.pk or has_role(user, *ADMIN_ROLES) or participates_in(user, thread)
    )


def can_make_thread_not_secret(user: User, thread: EmailThread) -> bool:
    """Only whoever made the thread secret, an Admin or a Super Admin lifts secrecy: the
    owner and the other participants may not overrule the person who asked for it."""
    return _in_thread_organisation(user, thread) and (
        (thread.made_secret_by_id is not None and thread.made_secret_by_id == user.pk)
        or has_role(user, *ADMIN_ROLES)
    )


class ThreadAction(StrEnum):
    """The actions of a thread's ⋯ menu (templates/candidates/_threads.html)."""

    SHARE = "share"
    MAKE_PRIVATE = "make_private"
    MAKE_SECRET = "make_secret"  # noqa: S105 (an action name)
    MAKE_NOT_SECRET = "make_not_secret"  # noqa: S105 (an action name)
    REMOVE = "remove"


def thread_actions(user: User, thread: EmailThread) -> frozenset[ThreadAction]:
    """What `user` may do to `thread` now, one ThreadAction each: the ⋯ menu offers these
    and is left out altogether when there are none. Share / Make private are hidden while
    the thread is secret: secrecy decides who sees it until it is lifted, which gives
    the thread back the visibility it had."""
    visibility = EmailThread.Visibility
    actions: set[ThreadAction] = set()
    if can_remove_from_threadline(user, thread):
        actions.add(ThreadAction.REMOVE)
    if thread.visibility == visibility.SECRET:
        if can_make_thread_not_secret(user, thread):
            actions.add(ThreadAction.MAKE_NOT_SECRET)
        return frozenset(actions)
    if can_change_thread_visibility(user, thread):
        actions.add(
            ThreadAction.MAKE_PRIVATE
            if thread.visibility == visibility.TEAM
            else ThreadAction.SHARE
        )
    if can_make_thread_secret(user, thread):
        actions.add(ThreadAction.MAKE_SECRET)
    return frozenset(actions)


def message_actions(user: User, thread: EmailThread) -> frozenset[ThreadAction]:
    """What `user` may do to each message of `thread`, for its ⋯ menu (left out when
    empty): remove it, for who may remove its thread. Secrecy is a thread's, never a single
    message's, so the answer is the same for all of a thread's messages: asked once."""
    if can_remove_from_threadline(user, thread):
        return frozenset({ThreadAction.REMOVE})
    return frozenset()


# --- Profile history --------------------------------------------------------------------


def can_see_profile_history(user: User, candidate: Candidate) -> bool:
    """Admins and Super Admins read what was done on a profile they can see (who made
    which thread secret, shared, removed, imported); nobody else learns it exists."""
    return (
        has_role(user, *ADMIN_ROLES) and visible_candidates(user).filter(pk=candidate.pk).exists()
    )


def can_remove_from_threadline(user: User, thread: EmailThread) -> bool:
    """Remove thread / Remove email from Threadline: the thread's owner, its participants
    (users who sent a message on it), Admins and Super Admins. Callers pass threads they
    found through `visible_threads`: nobody removes what they cannot see."""
    return _in_thread_organisation(user, thread) and (
        thread.owner_id == user.pk or has_role(user, *ADMIN_ROLES) or participates_in(user, thread)
    )
