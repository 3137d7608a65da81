from uuid import UUID

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from candidates import policy
from candidates.models import (
    Application,
    Candidate,
    CandidateEmail,
    EmailAttachment,
    EmailMessage,
    EmailThread,
)


def candidate_list(*, user: User, search: str = "") -> QuerySet[Candidate]:
    """Candidates the user may see, newest activity first, optionally filtered by a search
    over names, headlines and addresses."""
    candidates = policy.visible_candidates(user)
    search = search.strip()
    if search:
        by_address = CandidateEmail.objects.filter(address__icontains=search).values("candidate_id")
        candidates = candidates.filter(
            Q(full_name__icontains=search) | Q(headline__icontains=search) | Q(pk__in=by_address)
        )
    return candidates.order_by("-updated_at", "pk").prefetch_related(
        "emails",
        Prefetch(
            "applications",
            queryset=Application.objects.filter(
                posting__in=policy.visible_postings(user)
            ).select_related("posting"),
            to_attr="visible_applications",
        ),
    )


def candidate_get(*, user: User, candidate_id: UUID | str) -> Candidate:
    """One candidate the user may see, or 404 — the same answer whether it belongs to
    another organisation, is hidden by the policy, or does not exist."""
    return get_object_or_404(candidate_list(user=user), pk=candidate_id)


def thread_list(*, user: User, candidate: Candidate) -> QuerySet[EmailThread]:
    """The candidate's threads the user may see, newest activity first, each with its
    messages (oldest first) and their attachments' descriptions: three queries per page."""
    # The original HTML is only read for its download; the tab shows `body_html_display`.
    messages = (
        EmailMessage.objects.defer("body_html")
        .order_by("sent_at", "pk")
        .prefetch_related(
            # The bytes are only read for a download.
            Prefetch("attachments", queryset=EmailAttachment.objects.defer("content_b64"))
        )
    )
    return (
        policy.visible_threads(user)
        .filter(candidate=candidate)
        .select_related("owner")
        .prefetch_related(Prefetch("messages", queryset=messages))
        .order_by("-last_message_at", "-pk")
    )


def thread_get(*, user: User, candidate: Candidate, thread_id: UUID | str) -> EmailThread:
    """One of the candidate's threads the user may see, or 404."""
    return get_object_or_404(policy.visible_threads(user).filter(candidate=candidate), pk=thread_id)


def attachment_get(
    *, user: User, candidate_id: UUID | str, attachment_id: int | str
) -> EmailAttachment:
    """An attachment, bytes included, on a thread of this candidate that the user may see;
    404 otherwise."""
    return get_object_or_404(
        policy.visible_attachments(user).filter(message__thread__candidate_id=candidate_id),
        pk=attachment_id,
    )


def message_original_html_get(
    *, user: User, candidate_id: UUID | str, message_id: int | str
) -> EmailMessage:
    """A message with an HTML part, on a thread of this candidate that the user may see
    (the rule attachment downloads follow); 404 otherwise."""
    message = get_object_or_404(
        EmailMessage.objects.filter(
            thread__in=policy.visible_threads(user), thread__candidate_id=candidate_id
        ),
        pk=message_id,
    )
    if not message.body_html:
        raise Http404("This message has no HTML part.")
    return message
