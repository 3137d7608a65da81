"""The candidate profile's Emails tab and its actions: they read, send and import through
mailsync, so they live here, on top of candidates' profile page (same URLs as before)."""

from typing import Any
from uuid import UUID

from csp.decorators import csp_update
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import MemberRequest, member_required
from candidates import policy as candidates_policy
from candidates import selectors as candidates_selectors
from candidates.models import Candidate, EmailThread
from candidates.views import profile_context, render_profile
from mailsync.forms import ComposeForm, ReplyForm
from mailsync.manual_import import ImportRefused
from mailsync.policy import mailbox_status
from mailsync.selectors import mailbox_for
from mailsync.sending import SendError
from mailsync.services import candidate_mail_import, message_send

THREADS_PER_PAGE = 10


def _emails_context(
    request: MemberRequest,
    candidate: Candidate,
    *,
    sent_form: ComposeForm | None = None,
    sent_thread: EmailThread | None = None,
) -> dict[str, Any]:
    """What the Emails tab shows. `sent_form` is a compose (or, with `sent_thread`, reply)
    form coming back with errors."""
    context: dict[str, Any] = profile_context(request, candidate, "emails")
    threads = candidates_selectors.thread_list(user=request.user, candidate=candidate)
    page = Paginator(threads, THREADS_PER_PAGE).get_page(request.GET.get("page"))
    addresses = [email.address for email in candidate.emails.all()]
    for thread in page:
        # Display-only attributes for the template, set on this page's instances.
        may_change = candidates_policy.can_change_thread_visibility(request.user, thread)
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
def candidate_emails(request: MemberRequest, candidate_id: UUID) -> HttpResponse:
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    return render_profile(request, _emails_context(request, candidate))


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
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    context = _emails_context(request, candidate) | {"load_images_for": message_id}
    return render(request, "candidates/candidate_detail.html", context)


@member_required
@require_POST
def email_send(
    request: MemberRequest, candidate_id: UUID, thread_id: UUID | None = None
) -> HttpResponse:
    """A new thread from the compose form, or a reply on `thread_id`."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = None
    if thread_id is not None:
        thread = candidates_selectors.thread_get(
            user=request.user, candidate=candidate, thread_id=thread_id
        )
    addresses = [email.address for email in candidate.emails.all()]
    form: ComposeForm
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
            return redirect("mailsync:emails", candidate_id=candidate.pk)
    context = _emails_context(request, candidate, sent_form=form, sent_thread=thread)
    return render(request, "candidates/candidate_detail.html", context)


@member_required
@require_POST
def email_import(request: MemberRequest, candidate_id: UUID) -> HttpResponse:
    """Import candidate email: everything between me and this candidate in my mailbox."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
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
            one = report.skipped == 1
            text += (
                f" {report.skipped} message{'' if one else 's'} could not be read and "
                f"{'was' if one else 'were'} skipped (see My account)."
            )
        if report.truncated:
            text += " Only the most recent ones were imported; run it again for more."
        messages.success(request, text)
    return redirect("mailsync:emails", candidate_id=candidate.pk)
