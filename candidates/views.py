from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from accounts import policy
from accounts.access import member_required, require
from candidates import selectors, services
from candidates.forms import AddEmailForm, CandidateForm

PROFILE_TABS = ("overview", "emails")


@member_required
def candidate_list(request):
    search = request.GET.get("q", "")
    candidates = selectors.candidate_list(user=request.user, search=search)
    page = Paginator(candidates, settings.CANDIDATES_PER_PAGE).get_page(request.GET.get("page"))
    template = "candidates/_list_results.html" if request.htmx else "candidates/candidate_list.html"
    return render(
        request,
        template,
        {"page": page, "search": search, "can_create": policy.can_create_candidate(request.user)},
    )


@member_required
def candidate_create(request):
    require(policy.can_create_candidate(request.user), "You may not add candidates.")
    form = CandidateForm(request.POST or None, postings=policy.visible_postings(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            candidate = services.candidate_create(actor=request.user, **form.cleaned_data)
        except services.CandidateError as error:
            form.add_error(error.field, str(error))
        else:
            messages.success(request, f"{candidate.full_name} was added.")
            return redirect("candidates:detail", candidate_id=candidate.pk)
    return render(request, "candidates/candidate_form.html", {"form": form})


@member_required
def candidate_detail(request, candidate_id, tab="overview"):
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    context = {"candidate": candidate, "tab": tab, "tabs": PROFILE_TABS, "email_form": None}
    if request.htmx and request.htmx.target == "profile-tab":
        return render(request, f"candidates/_tab_{tab}.html", context)
    return render(request, "candidates/candidate_detail.html", context)


@member_required
def candidate_add_email(request, candidate_id):
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    form = AddEmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.candidate_add_email(
                actor=request.user, candidate=candidate, address=form.cleaned_data["email"]
            )
        except services.CandidateError as error:
            form.add_error(error.field, str(error))
        else:
            messages.success(request, "The address was added.")
            if request.htmx:
                form = AddEmailForm()
            else:
                return redirect("candidates:detail", candidate_id=candidate.pk)
    # Re-read so the address list includes what was just added.
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    return render(
        request,
        "candidates/_addresses.html" if request.htmx else "candidates/candidate_add_email.html",
        {"candidate": candidate, "email_form": form},
    )
