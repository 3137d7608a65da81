from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from candidates import policy
from candidates.addresses import address_taken_reason, normalise_email_address
from candidates.models import Application, Candidate, CandidateEmail, EmailThread, Posting


class CandidateError(Exception):
    """A change to candidates that the rules refuse; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _claim_address(*, candidate: Candidate, raw_address: str, primary: bool) -> CandidateEmail:
    try:
        address = normalise_email_address(raw_address)
    except ValidationError:
        raise CandidateError("Enter a valid email address.", field="email") from None
    taken = address_taken_reason(
        organisation_id=candidate.organisation_id, candidate_id=candidate.pk, address=address
    )
    if taken:
        raise CandidateError(taken, field="email")
    try:
        with transaction.atomic():
            return CandidateEmail.objects.create(
                organisation_id=candidate.organisation_id,
                candidate=candidate,
                address=address,
                is_primary=primary,
            )
    except IntegrityError:
        # Someone claimed it between our check and our insert.
        raise CandidateError("Another candidate already has this address.", field="email") from None


@transaction.atomic
def candidate_create(
    *,
    actor: User,
    full_name: str,
    email: str = "",
    headline: str = "",
    location: str = "",
    posting: Posting | None = None,
) -> Candidate:
    if not policy.can_create_candidate(actor):
        raise CandidateError("You may not add candidates.")
    if posting is not None and not policy.visible_postings(actor).filter(pk=posting.pk).exists():
        raise CandidateError("Choose one of your organisation's postings.", field="posting")
    # can_create_candidate() admits members only, whose organisation_id is set.
    candidate = Candidate.objects.create(  # type: ignore[misc]
        organisation_id=actor.organisation_id,
        full_name=full_name.strip(),
        headline=headline.strip(),
        location=location.strip(),
        created_by=actor,
    )
    if email:
        _claim_address(candidate=candidate, raw_address=email, primary=True)
    if posting is not None:
        Application.objects.create(candidate=candidate, posting=posting)
    return candidate


def candidate_add_email(*, actor: User, candidate: Candidate, address: str) -> CandidateEmail:
    if not policy.can_edit_candidate(actor, candidate):
        raise CandidateError("You may not change this candidate.")
    is_first = not candidate.emails.exists()
    email = _claim_address(candidate=candidate, raw_address=address, primary=is_first)
    candidate.save(update_fields=["updated_at"])
    return email


def thread_set_visibility(*, actor: User, thread: EmailThread, visibility: str) -> EmailThread:
    """Share a thread with the team, make it private again, or make it secret."""
    if not policy.can_change_thread_visibility(actor, thread):
        raise CandidateError("Only the person who started this thread may change who sees it.")
    if visibility not in EmailThread.Visibility.values:
        raise CandidateError("Choose who may see this thread.", field="visibility")
    thread.visibility = visibility
    thread.save(update_fields=["visibility"])
    return thread
