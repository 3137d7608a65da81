from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from accounts.access import member_required, require
from accounts.models import User
from candidates import policy, selectors, services
from candidates.forms import AddEmailForm, CandidateForm, CandidateListForm, CandidatePrefillForm
from candidates.models import Candidate, EmailThread
from candidates.policy import ThreadAction
from candidates.rendering import safe_content_type, safe_download_filename
from core.attachment_storage import attachment_blob_read

PROFILE_TABS = ("overview", "emails", "interviews")
HISTORY_PER_PAGE = 50


@member_required
def candidate_list(request):
    form = CandidateListForm(request.GET)
    form.is_valid()  # a value not among the choices is left out, never an error page
    choices = form.cleaned_data
    candidates = selectors.candidate_list(
        user=request.user,
        search=choices.get("q", ""),
        activity=selectors.ActivityFilter(choices["activity"]) if choices.get("activity") else None,
        order=selectors.ListOrder(choices.get("sort") or selectors.ListOrder.RECENTLY_UPDATED),
    )
    page = Paginator(candidates, settings.CANDIDATES_PER_PAGE).get_page(request.GET.get("page"))
    selectors.last_email_subjects_attach(user=request.user, candidates=page.object_list)
    template = "candidates/_list_results.html" if request.htmx else "candidates/candidate_list.html"
    context = {
        "page": page,
        "form": form,
        "search": choices.get("q", ""),
        "activity": choices.get("activity", ""),
        "sort": choices.get("sort", ""),
        "list_query": form.query_string(),
        "can_create": policy.can_create_candidate(request.user),
    }
    return render(request, template, context)


@member_required
def candidate_create(request):
    require(policy.can_create_candidate(request.user), "You may not add candidates.")
    postings = policy.visible_postings(request.user)
    if "from_contact" in request.POST:
        # "Create candidate from contact": the form starts filled from the person picked.
        prefill = CandidatePrefillForm(QueryDict(request.POST["from_contact"]))
        initial = prefill.cleaned_data if prefill.is_valid() else {}
        form = CandidateForm(initial=initial, postings=postings)
        context = {"form": form, "prefilled_from": initial.get("full_name", "")}
        return render(request, "candidates/candidate_form.html", context)
    form = CandidateForm(request.POST or None, postings=postings)
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
    tabs: tuple[str, ...] = PROFILE_TABS
    if policy.can_see_profile_history(request.user, candidate):
        tabs += ("history",)
    return {"candidate": candidate, "tab": tab, "tabs": tabs, "email_form": None}


def render_profile(request, context: dict[str, Any]) -> HttpResponse:
    """The profile page with its tab, or the tab alone when htmx swaps tabs in place."""
    if request.htmx and request.htmx.target == "profile-tab":
        return render(request, "candidates/_profile_tab_swap.html", context)
    return render(request, "candidates/candidate_detail.html", context)


def emails_tab_url(
    candidate_id: object, *, page: str | int | None = None, thread_id: object = None
) -> str:
    """The Emails tab at the reader's page of threads, scrolled to the thread they acted on:
    where every thread action and reply returns."""
    url = reverse("mailsync:emails", kwargs={"candidate_id": candidate_id})
    if page is not None and str(page).isdigit() and int(page) > 1:
        url += f"?page={int(page)}"
    if thread_id is not None:
        url += f"#thread-{thread_id}"
    return url


@member_required
def candidate_detail(request, candidate_id):
    """The Overview tab (mailsync.candidate_views serves the Emails tab)."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    return render_profile(request, profile_context(request, candidate, "overview"))


@dataclass(frozen=True)
class _ThreadChange:
    allowed: Callable[[User, EmailThread], bool]
    refusal: str
    service: Callable[..., EmailThread]


# Each action of a thread's ⋯ menu: who may (403 for those who see the thread but may
# not), and the one service that does it.
THREAD_CHANGES = {
    ThreadAction.SHARE: _ThreadChange(
        policy.can_change_thread_visibility,
        "Only the person who started this thread may change who sees it.",
        services.thread_share,
    ),
    ThreadAction.MAKE_PRIVATE: _ThreadChange(
        policy.can_change_thread_visibility,
        "Only the person who started this thread may change who sees it.",
        services.thread_make_private,
    ),
    ThreadAction.MAKE_SECRET: _ThreadChange(
        policy.can_make_thread_secret,
        "Only the thread's owner, the people who wrote in it, Admins and Super Admins may "
        "make it secret.",
        services.thread_make_secret,
    ),
    ThreadAction.MAKE_NOT_SECRET: _ThreadChange(
        policy.can_make_thread_not_secret,
        "Only the person who made this thread secret, an Admin or a Super Admin may make it "
        "not secret.",
        services.thread_make_not_secret,
    ),
}


def _thread_changed_text(thread: EmailThread, action: ThreadAction) -> str:
    if action == ThreadAction.MAKE_SECRET:
        return (
            "The thread is secret: only its owner, its participants, you, Admins and "
            "Super Admins see it."
        )
    if thread.visibility == EmailThread.Visibility.TEAM:
        return "The thread is shared with everyone who can see the candidate."
    return "The thread is private to the person who started it."


@member_required
def candidate_history(request, candidate_id):
    """The History tab: what was done on the profile, for Admins and Super Admins only;
    everyone else is told there is no such page."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    if not policy.can_see_profile_history(request.user, candidate):
        raise Http404("No such page.")
    page = selectors.profile_history(
        user=request.user,
        candidate=candidate,
        page_number=request.GET.get("page"),
        per_page=HISTORY_PER_PAGE,
    )
    return render_profile(
        request, profile_context(request, candidate, "history") | {"history": page}
    )


@member_required
@require_POST
def thread_change(request, candidate_id, thread_id, action: ThreadAction):
    """One action of a thread's ⋯ menu. Whether the form came through htmx or not, the
    answer is the Emails tab page it was on: htmx follows the redirect and swaps in the
    thread's <article> alone (hx-select), or nothing if the viewer may no longer see it."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = selectors.thread_get(user=request.user, candidate=candidate, thread_id=thread_id)
    change = THREAD_CHANGES[action]
    require(change.allowed(request.user, thread), change.refusal)
    try:
        thread = change.service(actor=request.user, thread=thread)
    except services.CandidateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _thread_changed_text(thread, action))
    return redirect(
        emails_tab_url(candidate.pk, page=request.POST.get("page"), thread_id=thread.pk)
    )


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
        # Read only now, after the visibility policy has found the row.
        attachment_blob_read(attachment.blob),
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
