from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts import policy
from accounts.models import User
from candidates.models import Application, Candidate, CandidateEmail


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


def candidate_get(*, user: User, candidate_id) -> Candidate:
    """One candidate the user may see, or 404 — the same answer whether it belongs to
    another organisation, is hidden by the policy, or does not exist."""
    return get_object_or_404(candidate_list(user=user), pk=candidate_id)
