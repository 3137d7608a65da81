"""The candidate profile's Emails tab and its actions: they read, send and import through
mailsync, so they live here, on top of candidates' profile page (same URLs as before)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from csp.decorators import csp_update
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.views.decorators.http import require_POST
from django_htmx.http import retarget

from accounts.access import MemberRequest, member_required, require
from accounts.models import User
from candidates import policy as candidates_policy
from candidates import selectors as candidates_selectors
from candidates import services as candidates_services
from candidates.models import Candidate, EmailMessage, EmailThread
from candidates.views import emails_tab_url, profile_context, render_profile
from core.middleware import UPLOAD_TOO_LARGE_PARAMETER
from core.reversing import reverse_each
from mailsync.forms import ComposeForm, ImportForm, ReplyForm
from mailsync.manual_import import ImportRefused
from mailsync.models import ImportJob
from mailsync.policy import CONNECT_TO_SEND, company_send_refusal, mailbox_status
from mailsync.removal import REMOVAL_REFUSED, RemovalRefused
from mailsync.selectors import (
    draft_attachments_for,
    import_job_get,
    import_job_shown,
    removed_count_for,
    request_mailbox,
)
from mailsync.sending import SendError, send_token_claim, send_token_release
from mailsync.services import (
    candidate_import_cancel,
    candidate_import_start,
    draft_attachments_keep,
    message_send,
)
from mailsync.services import message_remove as message_remove_service
from mailsync.services import thread_remove as thread_remove_service

THREADS_PER_PAGE = 10
# How many of a thread's newest messages the Emails tab shows before "Show N earlier".
NEWEST_MESSAGES_SHOWN = 3
DIRECTION_LABELS = dict(EmailMessage.Direction.choices)


def _emails_context(
    request: MemberRequest,
    candidate: Candidate,
    *,
    sent_form: ComposeForm | None = None,
    sent_thread: EmailThread | None = None,
    import_form: ImportForm | None = None,
    reply_to: EmailThread | None = None,
) -> dict[str, Any]:
    """What the Emails tab shows. `sent_form` is a compose (or, with `sent_thread`, reply)
    form coming back with errors; `import_form` the import form, likewise. Reply forms
    are built only for `sent_thread` and `reply_to` (Reply opened without script): the
    others load when their Reply is opened (email_reply_form), not on every page view."""
    context: dict[str, Any] = profile_context(request, candidate, "emails")
    threads = candidates_selectors.thread_list(user=request.user, candidate=candidate)
    page = Paginator(threads, THREADS_PER_PAGE).get_page(request.GET.get("page"))
    addresses = [email.address for email in candidate.emails.all()]
    _threads_display(request.user, candidate, page)
    for thread in page:
        # A display-only attribute too, set on this page's instances.
        thread.reply_form = (  # type: ignore[attr-defined]
            sent_form
            if sent_thread is not None and thread.pk == sent_thread.pk
            else _reply_form(candidate, thread, addresses)
            if reply_to is not None and thread.pk == reply_to.pk
            else None
        )
    candidates_services.threads_mark_seen(user=request.user, threads=page.object_list)
    compose_form = sent_form if sent_thread is None else None
    mailbox = request_mailbox(request)
    status = mailbox_status(mailbox)
    removed = (
        removed_count_for(mailbox=mailbox, candidate_id=candidate.pk)
        if mailbox is not None and status.may_read
        else 0
    )
    job = import_job_shown(user=request.user, candidate=candidate)
    return (
        context
        | {
            "threads": page,
            "mailbox": mailbox if status.may_send else None,
            # View only or Off: no compose or reply anywhere, and the reason instead.
            "send_unavailable": company_send_refusal(request.user) or "",
            # A connected mailbox that may not send (re-authorization needed, granted at
            # View only before the level was raised) says why, not "connect your mailbox".
            "mailbox_send_refusal": ""
            if status.why_not_send == CONNECT_TO_SEND
            else status.why_not_send,
            "compose_form": compose_form
            or ComposeForm(addresses=addresses, candidate_name=candidate.full_name),
            "import_unavailable": status.why_not_read,
            # core.middleware.RequestSizeLimits sends an oversized compose post back here.
            "upload_too_large": UPLOAD_TOO_LARGE_PARAMETER in request.GET,
            "import_form": import_form or ImportForm(),
            "removed_count": removed,
            # Compared on every message: a name the context lacks costs an exception each.
            "load_images_for": None,
        }
        | _import_panel(candidate, job)
    )


# The URLs of each thread on the Emails tab (thread.urls in the templates), by key.
_THREAD_URLS = {
    "reply": "mailsync:email_reply",
    "reply_form": "mailsync:email_reply_form",
    "remove": "mailsync:thread_remove",
    "share": "candidates:thread_share",
    "make_private": "candidates:thread_make_private",
    "make_secret": "candidates:thread_make_secret",
    "make_not_secret": "candidates:thread_make_not_secret",
}


def _threads_display(user: User, candidate: Candidate, threads: Iterable[EmailThread]) -> None:
    """Display-only attributes for the Emails tab's templates, set on a page's threads and
    their messages in one pass rather than by the templates for every message: the ⋯
    menus' actions, asked of the policy once a thread (a message's actions are its
    thread's), the links and forms' URLs, each view reversed once a page, the dates and
    what the templates would otherwise work out again for every message."""
    thread_urls = {
        key: reverse_each(viewname, candidate.pk, last=UUID)
        for key, viewname in _THREAD_URLS.items()
    }
    message_remove_url = reverse_each("mailsync:message_remove", candidate.pk, last=int)
    # In the active language, as the `M` of Django's date formats gives them.
    month_names = {month: MONTHS_3[month].title() for month in MONTHS_3}
    for thread in threads:
        thread.actions = candidates_policy.thread_actions(user, thread)  # type: ignore[attr-defined]
        thread.message_actions = candidates_policy.message_actions(user, thread)  # type: ignore[attr-defined]
        thread.urls = {key: url(thread.pk) for key, url in thread_urls.items()}  # type: ignore[attr-defined]
        messages = list(thread.messages.all())
        thread.message_list = messages  # type: ignore[attr-defined]
        thread.message_count = len(messages)  # type: ignore[attr-defined]
        # The oldest of a long thread wait behind "Show N earlier".
        thread.earlier_count = max(len(messages) - NEWEST_MESSAGES_SHOWN, 0)  # type: ignore[attr-defined]
        for message in messages:
            message.remove_url = message_remove_url(message.pk)  # type: ignore[attr-defined]
            # What get_direction_display() gives, without building the choices each time.
            label = DIRECTION_LABELS.get(message.direction, message.direction)
            message.direction_label = str(label)  # type: ignore[attr-defined]
            # Read twice (removal's confirmation, the list): the related manager once.
            message.attachment_list = list(message.attachments.all())  # type: ignore[attr-defined]
            # What `sent_at|date:"c"` and `|date:"j M Y, H:i"` print, converted to local
            # time once rather than by each filter.
            sent_at = timezone.localtime(message.sent_at)
            message.sent_at_iso = sent_at.isoformat()  # type: ignore[attr-defined]
            message.sent_at_shown = sent_at_shown(sent_at, month_names)  # type: ignore[attr-defined]


def sent_at_shown(moment: datetime, month_names: dict[int, str]) -> str:
    """How a message's date reads on the Emails tab: what `dateformat.format(moment,
    "j M Y, H:i")` prints (the test compares them), written out because Django's formatter
    builds an object and splits its format with a regular expression on every call, some
    70 µs a message."""
    return (
        f"{moment.day} {month_names[moment.month]} {moment.year:04d}, "
        f"{moment.hour:02d}:{moment.minute:02d}"
    )


def _reply_form(candidate: Candidate, thread: EmailThread, addresses: list[str]) -> ReplyForm:
    return ReplyForm(addresses=addresses, thread=thread, candidate_name=candidate.full_name)


@member_required
def email_reply_form(request: MemberRequest, candidate_id: UUID, thread_id: UUID) -> HttpResponse:
    """A thread's reply form, when its Reply is opened: the form alone for htmx, or the
    Emails tab with this reply open for a browser without script. Only for a thread the
    user may see (404 otherwise, as posting the reply would be)."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = candidates_selectors.thread_get(
        user=request.user, candidate=candidate, thread_id=thread_id
    )
    if request.headers.get("HX-Request") != "true":
        return render_profile(request, _emails_context(request, candidate, reply_to=thread))
    mailbox = request_mailbox(request)
    addresses = [email.address for email in candidate.emails.all()]
    return render(
        request,
        "candidates/_reply_form.html",
        {
            "candidate": candidate,
            "thread": thread,
            "form": _reply_form(candidate, thread, addresses),
            "mailbox": mailbox if mailbox_status(mailbox).may_send else None,
            "send_unavailable": company_send_refusal(request.user) or "",
            "page": page if (page := request.GET.get("page", "")).isdigit() else "",
        },
    )


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
    """A new thread from the compose form, or a reply on `thread_id`. Whatever is refused
    comes back as the form, with its text and files (kept for the next try)."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = None
    if thread_id is not None:
        thread = candidates_selectors.thread_get(
            user=request.user, candidate=candidate, thread_id=thread_id
        )
    form = _bound_send_form(request, candidate, thread)
    if form.is_valid():
        token = form.cleaned_data["send_token"]
        if not send_token_claim(request.user, token):
            messages.info(request, "This form was already submitted: nothing was sent twice.")
            return _to_emails_tab(request, candidate, page=request.GET.get("page"))
        sent: EmailMessage | None = None
        try:
            sent = message_send(
                actor=request.user, candidate=candidate, draft=form.draft(), thread=thread
            )
        except SendError as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        finally:
            if sent is None:  # refused, or failed unexpectedly: the same form may try again
                send_token_release(request.user, token)
        if sent is not None:
            messages.success(request, f"Your email to {form.cleaned_data['to']} was sent.")
            # A reply keeps the reader's page; a new thread is the newest, on page 1.
            page = request.GET.get("page") if thread is not None else None
            return _to_emails_tab(request, candidate, page=page, thread_id=sent.thread_id)
    form.keep_for_next_try(
        draft_attachments_keep(actor=request.user, attachments=form.uploads_worth_keeping())
    )
    context = _emails_context(request, candidate, sent_form=form, sent_thread=thread)
    return render_profile(request, context)


def _bound_send_form(
    request: MemberRequest, candidate: Candidate, thread: EmailThread | None
) -> ComposeForm:
    options: dict[str, Any] = {
        "addresses": [email.address for email in candidate.emails.all()],
        "kept": draft_attachments_for(user=request.user, ids=request.POST.getlist("keep")),
        "candidate_name": candidate.full_name,
    }
    if thread is None:
        return ComposeForm(request.POST, request.FILES, **options)
    return ReplyForm(request.POST, request.FILES, thread=thread, **options)


def _to_emails_tab(
    request: MemberRequest,
    candidate: Candidate,
    *,
    page: str | None = None,
    thread_id: UUID | None = None,
) -> HttpResponse:
    """After sending: the Emails tab at the reader's page, as a whole page (htmx follows
    HX-Redirect), so the confirmation shows and the browser forgets the draft it kept."""
    if request.headers.get("HX-Request") == "true":
        # No #thread fragment here: htmx assigns the URL to the window, and a URL that
        # differs from the page's only by its fragment scrolls instead of loading.
        return HttpResponse(headers={"HX-Redirect": emails_tab_url(candidate.pk, page=page)})
    return redirect(emails_tab_url(candidate.pk, page=page, thread_id=thread_id))


@member_required
@require_POST
def email_import(request: MemberRequest, candidate_id: UUID) -> HttpResponse:
    """Import candidate email (the Emails tab's button, or "Sync emails" by an address):
    starts the background job, or finds the one running, and shows its progress."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    form = ImportForm(request.POST)
    if form.is_valid():
        try:
            candidate_import_start(
                actor=request.user,
                candidate=candidate,
                include_removed=form.cleaned_data["include_removed"],
            )
        except ImportRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect("mailsync:emails", candidate_id=candidate.pk)
    context = _emails_context(request, candidate, import_form=form)
    return render(request, "candidates/candidate_detail.html", context)


@member_required
def email_import_progress(request: MemberRequest, candidate_id: UUID, job_id: UUID) -> HttpResponse:
    """The progress panel alone, which it polls every second while the job runs."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    job = import_job_get(user=request.user, candidate=candidate, job_id=job_id)
    return render(request, "candidates/_import_panel.html", _import_panel(candidate, job))


@member_required
@require_POST
def email_import_cancel(request: MemberRequest, candidate_id: UUID, job_id: UUID) -> HttpResponse:
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    job = import_job_get(user=request.user, candidate=candidate, job_id=job_id)
    job = candidate_import_cancel(actor=request.user, job=job)
    if request.headers.get("HX-Request") == "true":
        return render(request, "candidates/_import_panel.html", _import_panel(candidate, job))
    return redirect("mailsync:emails", candidate_id=candidate.pk)


def _import_panel(candidate: Candidate, job: ImportJob | None) -> dict[str, Any]:
    """What the progress panel shows of a job: its counts, how far it is, and whether it
    still runs (the panel polls) or ended (a summary)."""
    if job is None:
        return {"candidate": candidate, "import_job": None}
    checkpoint = job.checkpoint or {}
    addresses = checkpoint.get("addresses") or []
    done = job.imported + job.already_there + job.skipped + job.removed_kept_out
    return {
        "candidate": candidate,
        "import_job": job,
        "import_active": job.state in ImportJob.ACTIVE_STATES,
        "import_searching": not addresses or checkpoint.get("address_index", 0) < len(addresses),
        "import_done": done,
        "import_remaining": max(job.found - done, 0),
        "import_percent": round(100 * done / job.found) if job.found else 0,
    }


MAILBOX_UNCHANGED = "No mailbox was changed, and the next sync will not bring it back."


@member_required
@require_POST
def thread_remove(request: MemberRequest, candidate_id: UUID, thread_id: UUID) -> HttpResponse:
    """Remove thread from Threadline (never from a mailbox)."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    thread = candidates_selectors.thread_get(
        user=request.user, candidate=candidate, thread_id=thread_id
    )
    require(candidates_policy.can_remove_from_threadline(request.user, thread), REMOVAL_REFUSED)
    try:
        removed = thread_remove_service(actor=request.user, thread=thread)
    except RemovalRefused as refusal:
        raise PermissionDenied(str(refusal)) from None
    note = (
        f"The thread and its {removed} email{'s' if removed != 1 else ''} were removed "
        f"from Threadline. {MAILBOX_UNCHANGED}"
    )
    return _removed(request, candidate, note)


@member_required
@require_POST
def message_remove(request: MemberRequest, candidate_id: UUID, message_id: int) -> HttpResponse:
    """Remove email from Threadline: one message (never from a mailbox)."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    message = candidates_selectors.message_get(
        user=request.user, candidate=candidate, message_id=message_id
    )
    thread = message.thread
    require(candidates_policy.can_remove_from_threadline(request.user, thread), REMOVAL_REFUSED)
    thread_element = f"#thread-{thread.pk}"  # the thread's id is gone once it is deleted
    try:
        thread_went = message_remove_service(actor=request.user, message=message)
    except RemovalRefused as refusal:
        raise PermissionDenied(str(refusal)) from None
    if thread_went:
        note = (
            "The email, the thread's last, was removed from Threadline with its thread. "
            + MAILBOX_UNCHANGED
        )
        return _removed(request, candidate, note, htmx_target=thread_element)
    return _removed(
        request, candidate, f"The email was removed from Threadline. {MAILBOX_UNCHANGED}"
    )


def _removed(
    request: MemberRequest, candidate: Candidate, note: str, *, htmx_target: str = ""
) -> HttpResponse:
    """htmx: the note takes the removed thread's or message's place (`htmx_target` when it
    is not the element that asked); without JavaScript, back to the Emails tab."""
    if request.htmx:
        response = render(request, "candidates/_removed_note.html", {"note": note})
        return retarget(response, htmx_target) if htmx_target else response
    messages.success(request, note)
    return redirect("mailsync:emails", candidate_id=candidate.pk)
