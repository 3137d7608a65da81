import base64
from uuid import UUID

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from accounts.access import MemberRequest, member_required, require
from candidates import policy, selectors, services
from candidates.forms import (
    AddEmailForm,
    CandidateForm,
    ComposeForm,
    ReplyForm,
    ThreadVisibilityForm,
)
from candidates.rendering import safe_content_type, safe_download_filename
from mailsync.manual_import import ImportRefused
from mailsync.policy import mailbox_status
from mailsync.selectors import mailbox_for
from mailsync.sending import SendError
from mailsync.services import candidate_mail_import, message_send

PROFILE_TABS = ("overview", "emails")
THREADS_PER_PAGE = 10


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


def _profile_context(request, candidate, tab, *, sent_form=None, sent_thread=None) -> dict:
    """What the profile page and its tabs show. On the Emails tab, `sent_form` is a compose
    (or, with `sent_thread`, reply) form coming back with errors."""
    context = {"candidate": candidate, "tab": tab, "tabs": PROFILE_TABS, "email_form": None}
    if tab != "emails":
        return context
    threads = selectors.thread_list(user=request.user, candidate=candidate)
    page = Paginator(threads, THREADS_PER_PAGE).get_page(request.GET.get("page"))
    addresses = [email.address for email in candidate.emails.all()]
    for thread in page:
        # Display-only attributes for the template, set on this page's instances.
        may_change = policy.can_change_thread_visibility(request.user, thread)
        thread.can_change_visibility = may_change  # type: ignore[attr-defined]
        thread.reply_form = (  # type: ignore[attr-defined]
            sent_form
            if sent_thread is not None and thread.pk == sent_thread.pk
            else ReplyForm(addresses=addresses, thread=thread)
        )
    compose_form = sent_form if sent_thread is None else None
    mailbox = mailbox_for(user=request.user)
    status = mailbox_status(mailbox)
    return context | {
        "threads": page,
        "mailbox": mailbox if status.may_send else None,
        "compose_form": compose_form or ComposeForm(addresses=addresses),
        "import_unavailable": status.why_not_read,
    }


@member_required
def candidate_detail(request, candidate_id, tab="overview"):
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    context = _profile_context(request, candidate, tab)
    if request.htmx and request.htmx.target == "profile-tab":
        return render(request, f"candidates/_tab_{tab}.html", context)
    return render(request, "candidates/candidate_detail.html", context)


@member_required
# django-csp 4.0 types a view as taking the request alone, not URL parameters too (fixed in
# its open pull request #282).
@csp_update({"img-src": ["https:"]})  # type: ignore[arg-type]
def candidate_emails_with_images(
    request: MemberRequest, candidate_id: UUID, message_id: int
) -> HttpResponse:
    """The Emails tab with one message's remote images loaded, at the viewer's request.
    Only this response's Content-Security-Policy admits images from the web; of the
    messages shown, only `message_id`'s have their image URLs put back (static/js/)."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    context = _profile_context(request, candidate, "emails") | {"load_images_for": message_id}
    return render(request, "candidates/candidate_detail.html", context)


@member_required
@require_POST
def email_send(request, candidate_id, thread_id=None):
    """A new thread from the compose form, or a reply on `thread_id`."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = None
    if thread_id is not None:
        thread = selectors.thread_get(user=request.user, candidate=candidate, thread_id=thread_id)
    addresses = [email.address for email in candidate.emails.all()]
    if thread is None:
        form = ComposeForm(request.POST, request.FILES, addresses=addresses)
    else:
        form = ReplyForm(request.POST, request.FILES, addresses=addresses, thread=thread)
    if form.is_valid():
        try:
            message_send(actor=request.user, candidate=candidate, draft=form.draft(), thread=thread)
        except SendError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        else:
            messages.success(request, f"Your email to {form.cleaned_data['to']} was sent.")
            return redirect("candidates:emails", candidate_id=candidate.pk)
    context = _profile_context(request, candidate, "emails", sent_form=form, sent_thread=thread)
    return render(request, "candidates/candidate_detail.html", context)


@member_required
@require_POST
def email_import(request, candidate_id):
    """Import candidate email: everything between me and this candidate in my mailbox."""
    candidate = selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    try:
        report = candidate_mail_import(actor=request.user, candidate=candidate)
    except ImportRefused as refusal:
        messages.error(request, str(refusal))
    else:
        text = (
            f"Imported {report.stored} new message{'s' if report.stored != 1 else ''} "
            f"in {report.threads} thread{'s' if report.threads != 1 else ''} "
            f"({report.found} found in your mailbox)."
        )
        if report.skipped:
            text += (
                f" {report.skipped} message{'s' if report.skipped != 1 else ''} could not be "
                "read and were skipped (see My account)."
            )
        if report.truncated:
            text += " Only the most recent ones were imported; run it again for more."
        messages.success(request, text)
    return redirect("candidates:emails", candidate_id=candidate.pk)


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
    return redirect("candidates:emails", candidate_id=candidate.pk)


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
