"""The profile's Interviews tab, and scheduling from it: search form → proposed slots →
confirm. Rescheduling is the same flow for an existing interview."""

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import MemberRequest, member_required, require
from candidates import selectors as candidates_selectors
from candidates.models import Candidate
from candidates.views import profile_context, render_profile
from interviews import selectors, services
from interviews.forms import CancelForm, SlotChoiceForm, SlotSearchForm
from interviews.models import Interview
from interviews.policy import may_change, may_schedule
from mailsync.models import MailboxConnection
from mailsync.providers import get_provider
from mailsync.providers.base import ProviderError
from mailsync.selectors import mailbox_for


def _tab_context(request: MemberRequest, candidate: Candidate) -> dict[str, Any]:
    connection = mailbox_for(user=request.user)
    interviews = list(selectors.interviews_for_candidate(user=request.user, candidate=candidate))
    for interview in interviews:
        # Display-only: whether this viewer may move or cancel it, and why not.
        interview.change_status = may_change(request.user, interview, connection)  # type: ignore[attr-defined]
    return profile_context(request, candidate, "interviews") | {
        "interviews": interviews,
        "schedule_status": may_schedule(request.user, candidate, connection),
        "cancel_form": CancelForm(with_message=_cancellation_carries_message(connection)),
    }


def _cancellation_carries_message(connection: MailboxConnection | None) -> bool:
    return connection is not None and get_provider(connection.provider).cancellation_carries_message


@member_required
def candidate_interviews(request: MemberRequest, candidate_id: UUID) -> HttpResponse:
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    return render_profile(request, _tab_context(request, candidate))


def _initial(request: MemberRequest, candidate: Candidate) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "title": f"Interview: {candidate.full_name}",
        "first_day": today,
        "last_day": today + timedelta(days=6),
        "duration": 60,
        "time_zone": selectors.last_time_zone_for(user=request.user),
    }


def _slots_or_form(
    request: MemberRequest,
    *,
    candidate: Candidate,
    connection: MailboxConnection,
    form: SlotSearchForm,
    attendees: list[str],
    interview: Interview | None,
) -> HttpResponse:
    """The proposed slots for a valid search, or the form again with what went wrong."""
    context = {"candidate": candidate, "form": form, "interview": interview}
    if form.is_valid():
        try:
            proposal = selectors.slots_propose(
                connection=connection, attendees=attendees, search=form.search()
            )
        except ProviderError as failure:
            form.add_error(None, f"Your calendar could not be read: {failure}")
        else:
            return render(request, "interviews/slots.html", context | {"proposal": proposal})
    return render(request, "interviews/schedule.html", context)


def _schedulable(request: MemberRequest, candidate_id: UUID) -> tuple[Candidate, MailboxConnection]:
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    connection = mailbox_for(user=request.user)
    status = may_schedule(request.user, candidate, connection)
    require(status.allowed and connection is not None, status.why_not)
    assert connection is not None
    return candidate, connection


@member_required
def interview_schedule(request: MemberRequest, candidate_id: UUID) -> HttpResponse:
    """GET: the search form; POST: the proposed slots (or the form with its errors)."""
    candidate, connection = _schedulable(request, candidate_id)
    interviewers = selectors.interviewers_for(user=request.user)
    initial = _initial(request, candidate)
    zone_from_browser = initial["time_zone"] is None
    if zone_from_browser:
        initial["time_zone"] = settings.TIME_ZONE
    form = SlotSearchForm(
        request.POST if request.method == "POST" else None,
        interviewers=interviewers,
        today=timezone.localdate(),
        initial=initial,
        zone_from_browser=zone_from_browser,
    )
    if request.method != "POST":
        context = {"candidate": candidate, "form": form, "interview": None}
        return render(request, "interviews/schedule.html", context)
    addresses = (
        [user.email for user in form.cleaned_data["interviewers"]] if form.is_valid() else []
    )
    return _slots_or_form(
        request,
        candidate=candidate,
        connection=connection,
        form=form,
        attendees=addresses,
        interview=None,
    )


@member_required
@require_POST
def interview_confirm(request: MemberRequest, candidate_id: UUID) -> HttpResponse:
    candidate, connection = _schedulable(request, candidate_id)
    form = SlotChoiceForm(
        request.POST,
        interviewers=selectors.interviewers_for(user=request.user),
        today=timezone.localdate(),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.interview_schedule(
                organiser=request.user,
                connection=connection,
                candidate=candidate,
                interviewers=list(data["interviewers"]),
                title=data["title"],
                invitation=data["invitation"],
                start=data["start"],
                duration=form.search().duration,
                time_zone=data["time_zone"],
            )
        except services.InterviewError as error:
            form.add_error(error.field or None, str(error))
        else:
            messages.success(
                request, "The interview is in your calendar; the attendees are invited."
            )
            return redirect("interviews:list", candidate_id=candidate.pk)
    context = {"candidate": candidate, "form": form, "interview": None}
    return render(request, "interviews/schedule.html", context)


def _changeable(
    request: MemberRequest, candidate_id: UUID, interview_id: int
) -> tuple[Candidate, Interview, MailboxConnection]:
    """404 for an interview the user may not see; 403 if they may not change it."""
    candidate = candidates_selectors.candidate_get(user=request.user, candidate_id=candidate_id)
    interview = selectors.interview_get(
        user=request.user, candidate=candidate, interview_id=interview_id
    )
    connection = mailbox_for(user=request.user)
    status = may_change(request.user, interview, connection)
    require(status.allowed and connection is not None, status.why_not)
    assert connection is not None
    return candidate, interview, connection


@member_required
def interview_reschedule(
    request: MemberRequest, candidate_id: UUID, interview_id: int
) -> HttpResponse:
    candidate, interview, connection = _changeable(request, candidate_id, interview_id)
    initial = _initial(request, candidate) | {
        "time_zone": interview.time_zone,
        "duration": int((interview.ends_at - interview.starts_at).total_seconds() // 60),
    }
    form = SlotSearchForm(
        request.POST if request.method == "POST" else None,
        interviewers=None,
        today=timezone.localdate(),
        initial=initial,
    )
    if request.method != "POST":
        return render(
            request,
            "interviews/schedule.html",
            {"candidate": candidate, "form": form, "interview": interview},
        )
    # Everyone invited, as the slots must suit them all (the organiser is added anyway).
    attendees = [
        a.email for a in interview.attendees.all() if not a.is_organiser and not a.is_candidate
    ]
    return _slots_or_form(
        request,
        candidate=candidate,
        connection=connection,
        form=form,
        attendees=attendees,
        interview=interview,
    )


@member_required
@require_POST
def interview_reschedule_confirm(
    request: MemberRequest, candidate_id: UUID, interview_id: int
) -> HttpResponse:
    candidate, interview, connection = _changeable(request, candidate_id, interview_id)
    form = SlotChoiceForm(request.POST, interviewers=None, today=timezone.localdate())
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.interview_reschedule(
                actor=request.user,
                connection=connection,
                interview=interview,
                start=data["start"],
                duration=form.search().duration,
                invitation=data["invitation"],
                time_zone=data["time_zone"],
            )
        except services.InterviewError as error:
            form.add_error(error.field or None, str(error))
        else:
            messages.success(request, "The interview was moved; the attendees are told.")
            return redirect("interviews:list", candidate_id=candidate.pk)
    return render(
        request,
        "interviews/schedule.html",
        {"candidate": candidate, "form": form, "interview": interview},
    )


@member_required
@require_POST
def interview_cancel(request: MemberRequest, candidate_id: UUID, interview_id: int) -> HttpResponse:
    candidate, interview, connection = _changeable(request, candidate_id, interview_id)
    form = CancelForm(request.POST, with_message=_cancellation_carries_message(connection))
    if not form.is_valid():
        messages.error(
            request, "; ".join(str(e) for errors in form.errors.values() for e in errors)
        )
        return redirect("interviews:list", candidate_id=candidate.pk)
    try:
        services.interview_cancel(
            actor=request.user,
            connection=connection,
            interview=interview,
            message=form.cleaned_data.get("message", ""),
        )
    except services.InterviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The interview was cancelled; the attendees are told.")
    return redirect("interviews:list", candidate_id=candidate.pk)
