"""The Interviews tab and who may see or act on interviews, at HTTP level. These need no
provider: interviews are rows, the calendar rows carry the scopes the policy asks for."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from interviews.models import Interview, InterviewAttendee
from mailsync.providers import get_provider
from tests.factories import MailboxConnectionFactory

pytestmark = pytest.mark.django_db


def _calendar_connected(user):
    """A connection whose Calendar box is ticked and whose grant holds the scopes (as the
    consent flow leaves it); no provider is called by these tests."""
    return MailboxConnectionFactory(
        user=user,
        uses_calendar=True,
        granted_scopes=get_provider("google").scopes_for_feature("calendar"),
    )


def _interview(candidate, organiser, connection, **fields):
    start = timezone.now() + timedelta(days=2)
    interview = Interview.objects.create(
        organisation=candidate.organisation,
        candidate=candidate,
        organiser=organiser,
        connection=connection,
        provider="google",
        provider_event_id=fields.pop("event_id", f"event-{candidate.pk.hex[:8]}"),
        tag=fields.pop("tag", candidate.pk.hex),
        title=fields.pop("title", f"Interview: {candidate.full_name}"),
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        time_zone="Europe/London",
        meeting_url="https://meet.google.com/abc-defg-hij",
        **fields,
    )
    InterviewAttendee.objects.create(
        interview=interview,
        email=candidate.primary_email.address,
        is_candidate=True,
        response=InterviewAttendee.Response.DECLINED,
    )
    return interview


def test_team_member_without_calendar_sees_why_scheduling_is_unavailable(team, client_for):
    candidate = team.candidate_on_my_posting
    page = client_for(team.team_member).get(reverse("interviews:list", args=[candidate.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="schedule-unavailable"' in html
    assert "Tick Calendar under Settings › My account" in html
    assert 'id="schedule-interview"' not in html


def test_connected_team_member_is_offered_schedule_interview(team, client_for):
    _calendar_connected(team.team_member)
    candidate = team.candidate_on_my_posting
    page = client_for(team.team_member).get(reverse("interviews:list", args=[candidate.pk]))
    assert 'id="schedule-interview"' in page.content.decode()
    form = client_for(team.team_member).get(reverse("interviews:schedule", args=[candidate.pk]))
    assert form.status_code == 200
    assert "Find free times" in form.content.decode()


def test_company_calendar_off_hides_schedule_and_refuses_the_post(team, client_for):
    _calendar_connected(team.team_member)
    team.organisation.calendar_enabled = False
    team.organisation.save()
    candidate = team.candidate_on_my_posting
    client = client_for(team.team_member)
    page = client.get(reverse("interviews:list", args=[candidate.pk])).content.decode()
    assert 'id="schedule-interview"' not in page
    assert "Your company has turned Calendar off" in page
    today = timezone.localdate()
    refused = client.post(
        reverse("interviews:schedule", args=[candidate.pk]),
        {
            "title": "Interview",
            "duration": "60",
            "first_day": today.isoformat(),
            "last_day": (today + timedelta(days=3)).isoformat(),
            "time_zone": "Europe/London",
        },
    )
    assert refused.status_code == 403
    confirm = client.post(reverse("interviews:confirm", args=[candidate.pk]), {})
    assert confirm.status_code == 403
    assert not Interview.objects.exists()


def test_limited_member_sees_interviews_of_visible_candidates_only(team, client_for):
    organiser = team.team_member
    connection = _calendar_connected(organiser)
    visible = _interview(team.candidate_on_my_posting, organiser, connection, title="Visible one")
    hidden = _interview(team.candidate_elsewhere, organiser, connection, title="Hidden one")
    client = client_for(team.limited)
    page = client.get(reverse("interviews:list", args=[visible.candidate_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Visible one" in html and "Declined" in html
    assert client.get(reverse("interviews:list", args=[hidden.candidate_id])).status_code == 404
    assert (
        client.get(
            reverse("interviews:reschedule", args=[hidden.candidate_id, hidden.pk])
        ).status_code
        == 404
    )
    # Asking for a hidden interview under a visible candidate's path finds nothing either.
    assert (
        client.post(
            reverse("interviews:cancel", args=[visible.candidate_id, hidden.pk])
        ).status_code
        == 404
    )


def test_a_colleague_who_is_not_the_organiser_may_not_cancel(team, client_for):
    connection = _calendar_connected(team.team_member)
    interview = _interview(team.candidate_on_my_posting, team.team_member, connection)
    _calendar_connected(team.admin)
    client = client_for(team.admin)
    page = client.get(reverse("interviews:list", args=[interview.candidate_id])).content.decode()
    assert "Reschedule" not in page
    refused = client.post(reverse("interviews:cancel", args=[interview.candidate_id, interview.pk]))
    assert refused.status_code == 403
    interview.refresh_from_db()
    assert interview.status == Interview.Status.SCHEDULED


def test_deleted_and_cancelled_interviews_say_so(team, client_for):
    connection = _calendar_connected(team.team_member)
    _interview(
        team.candidate_on_my_posting,
        team.team_member,
        connection,
        status=Interview.Status.DELETED_AT_PROVIDER,
    )
    page = client_for(team.team_member).get(
        reverse("interviews:list", args=[team.candidate_on_my_posting.pk])
    )
    html = page.content.decode()
    assert "Deleted in the calendar" in html
    assert "meet.google.com" not in html


def test_the_schedule_form_shows_field_errors(team, client_for):
    _calendar_connected(team.team_member)
    candidate = team.candidate_on_my_posting
    today = timezone.localdate()
    page = client_for(team.team_member).post(
        reverse("interviews:schedule", args=[candidate.pk]),
        {
            "title": "",
            "duration": "60",
            "first_day": (today + timedelta(days=5)).isoformat(),
            "last_day": (today + timedelta(days=1)).isoformat(),
            "time_zone": "Nowhere/Atlantis",
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "The last day comes before the first." in html
    assert "This field is required." in html
    assert "Select a valid choice." in html


def test_interviewers_offered_are_colleagues_with_calendar_allowed(team, client_for):
    _calendar_connected(team.team_member)
    _calendar_connected(team.admin)
    MailboxConnectionFactory(user=team.super_admin)  # email only: not offered
    team.limited.is_active = False
    team.limited.save()
    _calendar_connected(team.limited)  # deactivated: not offered
    page = client_for(team.team_member).get(
        reverse("interviews:schedule", args=[team.candidate_on_my_posting.pk])
    )
    html = page.content.decode()
    assert team.admin.email in html
    assert f"&lt;{team.super_admin.email}&gt;" not in html
    assert f"&lt;{team.limited.email}&gt;" not in html


def test_the_tab_asks_the_same_number_of_queries_however_many_interviews(team, client_for):
    connection = _calendar_connected(team.team_member)
    candidate = team.candidate_on_my_posting
    client = client_for(team.team_member)
    url = reverse("interviews:list", args=[candidate.pk])
    _interview(candidate, team.team_member, connection, event_id="e1", tag="t1")
    client.get(url)  # warm the session and caches
    with CaptureQueriesContext(db) as one:
        assert client.get(url).status_code == 200
    for n in range(2, 5):
        _interview(candidate, team.team_member, connection, event_id=f"e{n}", tag=f"t{n}")
    with CaptureQueriesContext(db) as four:
        page = client.get(url)
    assert page.content.decode().count('class="interview ') == 4
    assert len(four) == len(one)


def test_a_candidate_without_an_address_cannot_be_invited(team, client_for):
    _calendar_connected(team.team_member)
    candidate = team.candidate_on_my_posting
    candidate.emails.all().delete()
    client = client_for(team.team_member)
    page = client.get(reverse("interviews:list", args=[candidate.pk])).content.decode()
    assert "The candidate has no email address to invite." in page
    assert client.get(reverse("interviews:schedule", args=[candidate.pk])).status_code == 403
