import base64
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from accounts.access import member_required, require
from candidates import policy, selectors, services
from candidates.forms import AddEmailForm, CandidateForm, ThreadVisibilityForm
from candidates.models import Candidate
from candidates.rendering import safe_content_type, safe_download_filename

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


def profile_context(request, candidate: Candidate, tab: str) -> dict[str, Any]:
    """What every tab of the profile page shows; a tab's own view adds the rest."""
    return {"candidate": candidate, "tab": tab, "tabs": PROFILE_TABS, "email_form": None}


def render_profile(request, context: dict[str, Any]) -> HttpResponse:
    """The profile page with its tab, or the tab alone when htmx swaps tabs in place."""
    if request.htmx and request.htmx.target == "profile-tab":
        return render(request, f"candidates/_tab_{context['tab']}.html", context)
    return render(request, "candidates/candidate_detail.html", context)


@member_required
def candidate_detail(request, candidate_id):
    """The Overview tab (mailsync.candidate_views serves the Emails tab)."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    return render_profile(request, profile_context(request, candidate, "overview"))


@member_required
@require_POST
def thread_visibility(request, candidate_id, thread_id):
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = selectors.thread_get(user=request.user, candidate=candidate, thread_id=thread_id)
    require(
        policy.can_change_thread_visibility(request.user, thread),
        "Only the person who started this thread may change who sees it.",
    )
    form = ThreadVisibilityForm(request.POST)
    if form.is_valid():
        services.thread_set_visibility(
            actor=request.user, thread=thread, visibility=form.cleaned_data["visibility"]
        )
        messages.success(request, f"Who sees the thread now: {thread.get_visibility_display()}.")
    else:
        messages.error(request, "Choose who may see this thread.")
    return redirect("mailsync:emails", candidate_id=candidate.pk)


def _download(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    """Always a download, never rendered by the browser in our origin, whatever the sender
    claimed the file to be."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        True, safe_download_filename(filename)
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
def attachment_download(request, candidate_id, attachment_id):
    attachment = selectors.attachment_get(
        user=request.user, candidate_id=candidate_id, attachment_id=attachment_id
    )
    return _download(
        base64.b64decode(attachment.content_b64),
        content_type=safe_content_type(attachment.content_type),
        filename=attachment.filename,
    )


@member_required
def message_original_html_download(request, candidate_id, message_id):
    """A message's HTML part exactly as received, as plain text: for mail too complex to
    show, and never interpreted as a page of ours."""
    message = selectors.message_original_html_get(
        user=request.user, candidate_id=candidate_id, message_id=message_id
    )
    return _download(
        message.body_html.encode(),
        content_type="text/plain; charset=utf-8",
        filename=f"message-{message.pk}.html",
    )


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
