"""Add a thread from my mailbox: search it, read one conversation, attach it to a
candidate (an existing one, by typeahead, or a new one from its counterpart)."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import MemberRequest, member_required
from candidates import policy as candidates_policy
from candidates import selectors as candidates_selectors
from candidates.models import Candidate
from mailsync.contacts import contact_suggestions
from mailsync.forms import AttachNewCandidateForm, AttachToCandidateForm, ThreadSearchForm
from mailsync.mailbox_threads import (
    AlreadyInThreadline,
    Attached,
    MailboxThreadRefused,
    people_other_than,
    thread_fetch,
    thread_summary,
    threads_search,
)
from mailsync.policy import mailbox_status
from mailsync.providers.base import ThreadSummary
from mailsync.selectors import mailbox_for
from mailsync.services import mailbox_thread_attach, mailbox_thread_attach_new_candidate
from mailsync.suggestion_views import fill_values

TYPEAHEAD_LIMIT = 10


def _preselected(request: MemberRequest, value: str | None) -> Candidate | None:
    """The candidate the page was opened for (a profile's link), if the user sees them."""
    try:
        return candidates_selectors.candidate_get(user=request.user, candidate_id=UUID(value or ""))
    except (ValueError, Http404):
        return None


def _base(request: MemberRequest, candidate: Candidate | None) -> dict[str, Any]:
    mailbox = mailbox_for(user=request.user)
    return {
        "unavailable": mailbox_status(mailbox).why_not_read,
        "own_address": mailbox.account_address if mailbox else "",
        "candidate": candidate,
        "candidate_query": f"?candidate={candidate.pk}" if candidate else "",
    }


@member_required
@require_GET
def mailbox_threads(request: MemberRequest) -> HttpResponse:
    """The search: matching conversations' headers, never their bodies."""
    context = _base(request, _preselected(request, request.GET.get("candidate")))
    form = ThreadSearchForm(request.GET or None)
    context |= {"form": form, "results": None, "error": ""}
    if form.is_valid() and form.cleaned_data["q"] and not context["unavailable"]:
        try:
            context["results"] = threads_search(request.user, form.cleaned_data["q"])
        except MailboxThreadRefused as refusal:
            context["error"] = str(refusal)
    return render(request, "mailsync/mailbox_threads.html", context)


@member_required
@require_GET
def mailbox_thread(request: MemberRequest, thread_id: str) -> HttpResponse:
    """One conversation read from the mailbox for this page only: nothing is stored."""
    context = _base(request, _preselected(request, request.GET.get("candidate")))
    try:
        context["fetched"] = thread_fetch(request.user, thread_id)
    except MailboxThreadRefused as refusal:
        context["error"] = str(refusal)
    return render(request, "mailsync/mailbox_thread.html", context | {"thread_id": thread_id})


@member_required
@require_http_methods(["GET", "POST"])
def mailbox_thread_attach_page(request: MemberRequest, thread_id: str) -> HttpResponse:
    """Attach a conversation to a candidate: GET shows its headers and both forms."""
    chosen = request.POST.get("candidate") or request.GET.get("candidate")
    context = _base(request, _preselected(request, chosen)) | {"thread_id": thread_id}
    try:
        summary = thread_summary(request.user, thread_id)
    except MailboxThreadRefused as refusal:
        return render(
            request, "mailsync/mailbox_thread_attach.html", context | {"error": str(refusal)}
        )
    existing = AttachToCandidateForm(request.POST if "attach" in request.POST else None)
    new = AttachNewCandidateForm(
        request.POST if "create" in request.POST else None,
        initial=_counterpart(summary, context["own_address"]),
    )
    form = existing if existing.is_bound else new
    if form.is_bound and form.is_valid():
        done = _attach_or_explain(request, thread_id, form)
        if done is not None:
            return done
    return render(
        request,
        "mailsync/mailbox_thread_attach.html",
        context
        | {
            "summary": summary,
            "others": people_other_than(summary, context["own_address"]),
            "existing_form": existing,
            "new_form": new,
            "known": _known_candidates(request, summary),
            "may_create": candidates_policy.can_create_candidate(request.user),
        },
    )


def _attach_or_explain(
    request: MemberRequest, thread_id: str, form: AttachToCandidateForm | AttachNewCandidateForm
) -> HttpResponse | None:
    """Attach, and go to the thread on the profile; or put the refusal on the form (None).
    A conversation already in Threadline is shown where it is, if the user may see it."""
    try:
        attached = _attach(request, thread_id, form)
    except AlreadyInThreadline as already:
        if already.thread is None:
            form.add_error(None, str(already))
            return None
        messages.info(request, str(already))
        return redirect(_thread_url(already.thread.candidate_id, already.thread.pk))
    except MailboxThreadRefused as refusal:
        form.add_error(refusal.field if refusal.field in form.fields else None, str(refusal))
        return None
    count = attached.stored
    messages.success(
        request, f"Added the conversation ({count} message{'s' if count != 1 else ''})."
    )
    return redirect(_thread_url(attached.thread.candidate_id, attached.thread.pk))


def _attach(
    request: MemberRequest, thread_id: str, form: AttachToCandidateForm | AttachNewCandidateForm
) -> Attached:
    if isinstance(form, AttachNewCandidateForm):
        return mailbox_thread_attach_new_candidate(
            actor=request.user,
            provider_thread_id=thread_id,
            full_name=form.cleaned_data["full_name"],
            address=form.cleaned_data["email"],
        )
    try:
        candidate = candidates_selectors.candidate_get(
            user=request.user, candidate_id=form.cleaned_data["candidate"]
        )
    except Http404:
        raise MailboxThreadRefused(
            "Choose one of the candidates you can see.", field="candidate"
        ) from None
    return mailbox_thread_attach(
        actor=request.user, provider_thread_id=thread_id, candidate=candidate
    )


def _thread_url(candidate_id: UUID, thread_pk: UUID) -> str:
    return reverse("mailsync:emails", args=[candidate_id]) + f"#thread-{thread_pk}"


def _counterpart(summary: ThreadSummary, own_address: str) -> dict[str, str]:
    """The first person on the conversation who is not the mailbox's owner."""
    for name, address in people_other_than(summary, own_address):
        return {"full_name": name, "email": address}
    return {}


def _known_candidates(request: MemberRequest, summary: ThreadSummary) -> list[Candidate]:
    """Candidates the user may see who are on the conversation: the likely choices."""
    addresses = [address for _, address in summary.participants]
    return list(
        candidates_policy.visible_candidates(request.user)
        .filter(emails__address__in=addresses)
        .distinct()
        .order_by("full_name")[:TYPEAHEAD_LIMIT]
    )


@member_required
@require_GET
def candidate_choices(request: MemberRequest) -> HttpResponse:
    """The typeahead's htmx partial: candidates the user may see, by name or address, and
    (for those who may create candidates) people from their contacts, whom a pick puts
    into the new-candidate form."""
    text = request.GET.get("candidate_search", "")
    may_create = candidates_policy.can_create_candidate(request.user)
    found = contact_suggestions(request.user, text, with_contacts=may_create)
    return render(
        request,
        "mailsync/_candidate_choices.html",
        {
            "choices": [p for p in found.people if p.is_candidate][:TYPEAHEAD_LIMIT],
            "contacts": [
                (p, fill_values({"#id_full_name": p.name, "#id_email": p.emails[0]}))
                for p in found.people
                if not p.is_candidate
            ],
            "contacts_unavailable": found.contacts_unavailable if may_create else "",
            "searched": " ".join(text.split()),
        },
    )
