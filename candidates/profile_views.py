"""The profile's own edits: name, headline and location, addresses, and each application's
stage. Each answers htmx with the part of the profile it changed (notice or field error
inside it), and a plain form post with a redirect to the profile and a message."""

from collections.abc import Callable
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from accounts.access import MemberRequest, member_required, require
from candidates import policy, selectors, services
from candidates.forms import AddEmailForm, CandidateDetailsForm, StageForm
from candidates.models import Candidate, CandidateEmail

NOT_YOURS = "You may not change this candidate."


class ProfileRequest(MemberRequest):
    """A member's request with django-htmx's details (its middleware sets them)."""

    htmx: HtmxDetails


def _editable_candidate(request: ProfileRequest, candidate_id: UUID) -> Candidate:
    """404 for a candidate the user may not see; 403 if they see it but may not change it."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    require(policy.can_edit_candidate(request.user, candidate), NOT_YOURS)
    return candidate


@member_required
@require_GET
def candidate_details(request: ProfileRequest, candidate_id: UUID) -> HttpResponse:
    """The name, headline and location as shown (what "Cancel" on the edit form returns to)."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    if not request.htmx:
        return redirect("candidates:detail", candidate_id=candidate.pk)
    return render(request, "candidates/_details.html", {"candidate": candidate})


@member_required
def candidate_edit(request: ProfileRequest, candidate_id: UUID) -> HttpResponse:
    candidate = _editable_candidate(request, candidate_id)
    initial = {field: getattr(candidate, field) for field in CandidateDetailsForm.base_fields}
    form = CandidateDetailsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.candidate_update(actor=request.user, candidate=candidate, **form.cleaned_data)
        except services.CandidateError as error:
            form.add_error(error.field, str(error))
        else:
            if request.htmx:
                context = {"candidate": candidate, "details_notice": "Saved."}
                return render(request, "candidates/_details.html", context)
            messages.success(request, f"{candidate.full_name}'s profile was saved.")
            return redirect("candidates:detail", candidate_id=candidate.pk)
    template = "candidates/_details_form.html" if request.htmx else "candidates/candidate_edit.html"
    return render(request, template, {"candidate": candidate, "form": form})


def _change_address(
    request: ProfileRequest,
    candidate_id: UUID,
    email_id: int,
    change: Callable[[Candidate, CandidateEmail], str],
) -> HttpResponse:
    """One change to one of the candidate's addresses (`change` calls the service and says
    what happened). htmx gets the address list back, re-read, with the notice or the
    refusal in it; a plain form post the profile, with a message."""
    candidate = _editable_candidate(request, candidate_id)
    email = selectors.candidate_email_get(candidate=candidate, email_id=email_id)
    notice, error = "", ""
    try:
        notice = change(candidate, email)
    except services.CandidateError as refusal:
        error = str(refusal)
    if not request.htmx:
        messages.add_message(
            request, messages.ERROR if error else messages.SUCCESS, error or notice
        )
        return redirect("candidates:detail", candidate_id=candidate.pk)
    context = {
        "candidate": selectors.candidate_get(user=request.user, candidate_id=candidate_id),
        "email_form": AddEmailForm(),
        "address_notice": notice,
        "address_error": error,
    }
    return render(request, "candidates/_addresses.html", context)


@member_required
@require_POST
def candidate_email_remove(
    request: ProfileRequest, candidate_id: UUID, email_id: int
) -> HttpResponse:
    def remove(candidate: Candidate, email: CandidateEmail) -> str:
        remaining = services.candidate_remove_email(
            actor=request.user, candidate=candidate, email=email
        )
        if remaining:
            return f"{email.address} was removed."
        return (
            f"{email.address} was removed. The profile has no address now: new mail with"
            " this candidate can no longer be matched to it until you add one."
        )

    return _change_address(request, candidate_id, email_id, remove)


@member_required
@require_POST
def candidate_email_make_primary(
    request: ProfileRequest, candidate_id: UUID, email_id: int
) -> HttpResponse:
    def make_primary(candidate: Candidate, email: CandidateEmail) -> str:
        services.candidate_set_primary_email(actor=request.user, candidate=candidate, email=email)
        return f"{email.address} is now primary."

    return _change_address(request, candidate_id, email_id, make_primary)


@member_required
@require_POST
def application_stage(
    request: ProfileRequest, candidate_id: UUID, application_id: int
) -> HttpResponse:
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    application = selectors.application_get(
        user=request.user, candidate=candidate, application_id=application_id
    )
    require(
        policy.can_change_application_stage(request.user, application),
        "You may not change this application.",
    )
    form = StageForm(request.POST)
    notice, error = "", "Choose one of the stages."
    if form.is_valid():
        try:
            services.application_set_stage(
                actor=request.user, application=application, stage=form.cleaned_data["stage"]
            )
        except services.CandidateError as refusal:
            error = str(refusal)
        else:
            notice, error = f"Now at {application.get_stage_display()}.", ""
    if not request.htmx:
        if error:
            messages.error(request, f"{application.posting.title}: {error}")
        else:
            messages.success(request, f"{application.posting.title}: {notice}")
        return redirect("candidates:detail", candidate_id=candidate.pk)
    context = {
        # Re-read, so that the list shows the stage as stored.
        "candidate": selectors.candidate_get(user=request.user, candidate_id=candidate_id),
        "changed_application_id": application.pk,
        "stage_notice": notice,
        "stage_error": error,
    }
    return render(request, "candidates/_applications.html", context)
