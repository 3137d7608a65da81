from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from candidates import audit, policy
from candidates.addresses import address_taken_reason, normalise_email_address
from candidates.models import (
    Application,
    Candidate,
    CandidateEmail,
    EmailThread,
    Posting,
    ThreadSeen,
)


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
    more_emails: Sequence[str] = (),
    headline: str = "",
    location: str = "",
    posting: Posting | None = None,
) -> Candidate:
    """`email` becomes the primary address; `more_emails` are added after it."""
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
    extra = {
        a.strip().lower(): a for a in more_emails if a.strip().lower() != email.strip().lower()
    }
    for address in extra.values():
        try:
            _claim_address(candidate=candidate, raw_address=address, primary=not email)
        except CandidateError as error:
            raise CandidateError(f"{address}: {error}", field="more_emails") from None
        email = email or address
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


@transaction.atomic
def candidate_update(
    *, actor: User, candidate: Candidate, full_name: str, headline: str = "", location: str = ""
) -> Candidate:
    """The name, headline and location on the profile, trimmed as on creation."""
    if not policy.can_edit_candidate(actor, candidate):
        raise CandidateError("You may not change this candidate.")
    if not full_name.strip():
        raise CandidateError("Enter the candidate's name.", field="full_name")
    candidate.full_name = full_name.strip()
    candidate.headline = headline.strip()
    candidate.location = location.strip()
    candidate.save(update_fields=["full_name", "headline", "location", "updated_at"])
    return candidate


def _address_of(candidate: Candidate, email: CandidateEmail) -> CandidateEmail:
    """`email`, locked for the change, if it is still one of the candidate's addresses.
    Locking the candidate first serialises every change to its addresses, so two people
    removing the primary address at once still leave exactly one primary."""
    Candidate.objects.select_for_update().filter(pk=candidate.pk).first()
    current = candidate.emails.select_for_update().filter(pk=email.pk).first()
    if current is None:
        raise CandidateError("This address is no longer on the profile.", field="email")
    return current


@transaction.atomic
def candidate_remove_email(*, actor: User, candidate: Candidate, email: CandidateEmail) -> int:
    """Take an address off the profile; returns how many addresses remain.

    Removing the primary address makes the oldest remaining one primary. The last address
    may be removed too (a candidate may be added without one): the threads already on the
    profile stay, but new mail with that address is no longer matched to anyone, which the
    page says.
    """
    if not policy.can_edit_candidate(actor, candidate):
        raise CandidateError("You may not change this candidate.")
    current = _address_of(candidate, email)
    current.delete()
    remaining = candidate.emails.order_by("created_at", "pk")
    if current.is_primary:
        successor = remaining.first()
        if successor is not None:
            successor.is_primary = True
            successor.save(update_fields=["is_primary"])
    candidate.save(update_fields=["updated_at"])
    return remaining.count()


@transaction.atomic
def candidate_set_primary_email(
    *, actor: User, candidate: Candidate, email: CandidateEmail
) -> CandidateEmail:
    """Make `email` the address Threadline writes to first; the others stay, not primary."""
    if not policy.can_edit_candidate(actor, candidate):
        raise CandidateError("You may not change this candidate.")
    chosen = _address_of(candidate, email)
    # One save per address rather than a bulk update, so that each change reaches the
    # audit log (django-auditlog listens to save signals).
    for other in candidate.emails.filter(is_primary=True).exclude(pk=chosen.pk):
        other.is_primary = False
        other.save(update_fields=["is_primary"])
    if not chosen.is_primary:
        chosen.is_primary = True
        chosen.save(update_fields=["is_primary"])
    candidate.save(update_fields=["updated_at"])
    return chosen


@transaction.atomic
def application_set_stage(*, actor: User, application: Application, stage: str) -> Application:
    """Move a candidate's application to another stage of its posting's pipeline."""
    if not policy.can_change_application_stage(actor, application):
        raise CandidateError("You may not change this application.")
    if stage not in Application.Stage.values:
        raise CandidateError("Choose one of the stages.", field="stage")
    if application.stage != stage:
        application.stage = stage
        application.save(update_fields=["stage"])
        Candidate.objects.filter(pk=application.candidate_id).update(updated_at=timezone.now())
    return application


def threads_mark_seen(*, user: User, threads: Iterable[EmailThread]) -> None:
    """Record that `user` was shown these threads (the Emails tab's page), so that the
    candidate list stops marking their replies unread. The mark is the newest reply the
    user was shown (the thread's times as read for the page), not the clock: a reply
    stored after the page was read, whatever its Date header, stays unread. On a thread
    without a reply yet, the newest message shown. One query, an upsert on (user, thread),
    and none when every mark is already there: threads read by selectors.thread_list
    carry the user's mark (`viewer_seen_at`), so a page seen again writes nothing (a
    transaction on every view of the tab, otherwise)."""
    marks = [
        ThreadSeen(user=user, thread_id=thread.pk, seen_at=seen_at)
        for thread in threads
        if (seen_at := thread.last_inbound_at or thread.last_outbound_at or thread.last_message_at)
        != getattr(thread, "viewer_seen_at", None)
    ]
    if marks:
        ThreadSeen.objects.bulk_create(
            marks,
            update_conflicts=True,
            unique_fields=["user", "thread"],
            update_fields=["seen_at"],
        )


# --- Who sees a thread -------------------------------------------------------------------
# Each change re-reads the thread under a row lock, so that two people acting on it at
# once (or one double-click) are judged on what the other left, and is audited: who, when,
# which thread, never its subject.


def _thread_locked(thread: EmailThread) -> EmailThread:
    return EmailThread.objects.select_for_update().get(pk=thread.pk)


def _thread_set_shared(*, actor: User, thread: EmailThread, shared: bool) -> EmailThread:
    locked = _thread_locked(thread)
    if not policy.can_change_thread_visibility(actor, locked):
        raise CandidateError("Only the person who started this thread may change who sees it.")
    if locked.visibility == EmailThread.Visibility.SECRET:
        raise CandidateError("This thread is secret: make it not secret first.")
    wanted = EmailThread.Visibility.TEAM if shared else EmailThread.Visibility.PRIVATE
    if locked.visibility != wanted:
        locked.visibility = wanted
        locked.save(update_fields=["visibility"])
        audit.record(
            actor=actor,
            event=audit.Event.SHARED if shared else audit.Event.MADE_PRIVATE,
            candidate_id=locked.candidate_id,
            about=locked,
        )
    return locked


@transaction.atomic
def thread_share(*, actor: User, thread: EmailThread) -> EmailThread:
    """Share a thread with everyone who can see its candidate (owner only)."""
    return _thread_set_shared(actor=actor, thread=thread, shared=True)


@transaction.atomic
def thread_make_private(*, actor: User, thread: EmailThread) -> EmailThread:
    """Make a shared thread its owner's alone again (owner only)."""
    return _thread_set_shared(actor=actor, thread=thread, shared=False)


@transaction.atomic
def thread_make_secret(*, actor: User, thread: EmailThread) -> EmailThread:
    """Hide a thread from everyone but its owner, `actor`, its participants, Admins and
    Super Admins; the visibility it had is kept to be given back."""
    locked = _thread_locked(thread)
    if not policy.can_make_thread_secret(actor, locked):
        raise CandidateError("You may not make this thread secret.")
    if locked.visibility == EmailThread.Visibility.SECRET:
        raise CandidateError("This thread is already secret.")
    locked.visibility_before_secret = locked.visibility
    locked.visibility = EmailThread.Visibility.SECRET
    locked.made_secret_by = actor
    locked.save(update_fields=["visibility", "visibility_before_secret", "made_secret_by"])
    audit.record(
        actor=actor, event=audit.Event.MADE_SECRET, candidate_id=locked.candidate_id, about=locked
    )
    return locked


@transaction.atomic
def thread_make_not_secret(*, actor: User, thread: EmailThread) -> EmailThread:
    """Lift secrecy (its maker, Admins and Super Admins): the thread is again as private or
    shared as it was before. A thread made secret before that was recorded goes back to
    private, the narrower choice."""
    locked = _thread_locked(thread)
    if not policy.can_make_thread_not_secret(actor, locked):
        raise CandidateError(
            "Only the person who made this thread secret, an Admin or a Super Admin may "
            "make it not secret."
        )
    if locked.visibility != EmailThread.Visibility.SECRET:
        raise CandidateError("This thread is not secret.")
    restored = locked.visibility_before_secret
    if restored not in (EmailThread.Visibility.PRIVATE, EmailThread.Visibility.TEAM):
        restored = EmailThread.Visibility.PRIVATE
    locked.visibility = restored
    locked.visibility_before_secret = ""
    locked.made_secret_by = None
    locked.save(update_fields=["visibility", "visibility_before_secret", "made_secret_by"])
    audit.record(
        actor=actor,
        event=audit.Event.MADE_NOT_SECRET,
        candidate_id=locked.candidate_id,
        about=locked,
    )
    return locked
