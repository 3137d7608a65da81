"""Scheduling from the profile on both providers, through the sandbox over HTTP: the real
calendar clients, free/busy of the organiser and an interviewer, the event with its
meeting and attendees, reschedule, cancel, and what the calendar sync brings back."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from candidates import audit
from interviews.models import Interview, InterviewAttendee
from interviews.services import calendar_sync, calendar_sync_all
from mailsync.models import MailboxConnection
from sandbox import services as sandbox
from sandbox.microsoft.calendar import event_delete as graph_event_delete
from sandbox.models import CalendarEvent
from tests.mailsync.conftest import MailWorld

LONDON = ZoneInfo("Europe/London")


def _next_weekday(at_least_days: int = 2) -> date:
    day = timezone.localdate() + timedelta(days=at_least_days)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


class Scheduling:
    """The organiser (the team member, `world`) and an interviewer (the admin), both
    with Calendar ticked and consented on the same provider."""

    def __init__(self, world: MailWorld, interviewer: MailWorld):
        self.world = world
        self.interviewer = interviewer
        self.candidate = world.candidate
        self.day = _next_weekday()

    def busy(self, box, start: datetime, end: datetime, summary: str = "Busy") -> CalendarEvent:
        return sandbox.calendar_event_create(
            mailbox=box,
            fields={
                "summary": summary,
                "start": start,
                "end": end,
                "time_zone": "Europe/London",
            },
        )

    def search(self, url: str, **overrides):
        data = {
            "title": "Interview: Ada",
            "duration": "60",
            "interviewers": [str(self.interviewer.recruiter.pk)],
            "first_day": self.day.isoformat(),
            "last_day": self.day.isoformat(),
            "time_zone": "Europe/London",
            "invitation": "We look forward to talking with you.",
        } | overrides
        return self.world.client.post(url, data), data

    def slots(self, page) -> list[datetime]:
        assert page.status_code == 200, page.content.decode()[:2000]
        values = re.findall(r'name="start" value="([^"]+)"', page.content.decode())
        return [datetime.fromisoformat(value) for value in values]

    def schedule(self, start_hour: int = 11) -> Interview:
        page, data = self.search(reverse("interviews:schedule", args=[self.candidate.pk]))
        wanted = _at(self.day, start_hour)
        assert wanted in self.slots(page)
        done = self.world.client.post(
            reverse("interviews:confirm", args=[self.candidate.pk]),
            data | {"start": wanted.isoformat()},
        )
        assert done.status_code == 302, done.content.decode()[:2000]
        assert done["Location"] == reverse("interviews:list", args=[self.candidate.pk])
        return Interview.objects.get(candidate=self.candidate, status=Interview.Status.SCHEDULED)

    def organiser_event(self, interview: Interview) -> CalendarEvent:
        return CalendarEvent.objects.get(
            mailbox=self.world.recruiter_box, ical_uid=interview.ical_uid
        )

    def profile(self) -> str:
        page = self.world.client.get(reverse("interviews:list", args=[self.candidate.pk]))
        assert page.status_code == 200
        return page.content.decode()

    def connection(self) -> MailboxConnection:
        return MailboxConnection.objects.get(user=self.world.recruiter)


@pytest.fixture
def scheduling(world, client_for, settings) -> Scheduling:
    # Every free half-hour of the day, so that tests can name the times they expect.
    settings.INTERVIEWS_SLOTS_PER_DAY = 48
    world.connect(calendar=True)
    interviewer = MailWorld(
        world.team,
        world.kit,
        client_for(world.team.admin),
        recruiter=world.team.admin,
        colleague_of=world,
    )
    interviewer.connect(email=False, calendar=True)
    return Scheduling(world, interviewer)


def _overlaps(start: datetime, end: datetime, busy_start: datetime, busy_end: datetime) -> bool:
    return start < busy_end and busy_start < end


def test_slots_avoid_the_busy_time_of_organiser_and_interviewer(scheduling):
    day = scheduling.day
    scheduling.busy(scheduling.world.recruiter_box, _at(day, 10), _at(day, 11), "Dentist")
    scheduling.busy(scheduling.interviewer.recruiter_box, _at(day, 14), _at(day, 15, 30), "1:1")
    page, _ = scheduling.search(reverse("interviews:schedule", args=[scheduling.candidate.pk]))
    starts = scheduling.slots(page)
    assert _at(day, 9) in starts and _at(day, 11) in starts and _at(day, 15, 30) in starts
    for start in starts:
        end = start + timedelta(hours=1)
        assert not _overlaps(start, end, _at(day, 10), _at(day, 11)), start
        assert not _overlaps(start, end, _at(day, 14), _at(day, 15, 30)), start
    assert all(start.astimezone(LONDON).date() == day for start in starts)
    html = page.content.decode()
    assert day.strftime("%A") in html


def test_schedule_creates_the_event_with_meeting_and_attendees(scheduling):
    interview = scheduling.schedule(start_hour=11)
    event = scheduling.organiser_event(interview)
    assert event.start == _at(scheduling.day, 11).astimezone(UTC)
    assert event.end == _at(scheduling.day, 12).astimezone(UTC)
    invited = {attendee["email"].lower() for attendee in event.attendees}
    assert scheduling.world.candidate_address.lower() in invited
    assert scheduling.interviewer.recruiter.email.lower() in invited
    assert event.conference.get("url")
    expected_kind = "hangoutsMeet" if scheduling.world.kit.name == "google" else "teamsForBusiness"
    assert event.conference.get("kind") == expected_kind
    assert interview.tag in event.private_properties.values()
    assert "We look forward to talking with you." in event.description
    # The invitation reached the candidate's and the interviewer's calendars.
    assert CalendarEvent.objects.filter(
        mailbox=scheduling.world.candidate_box, ical_uid=event.ical_uid
    ).exists()
    assert interview.meeting_url == event.conference["url"]
    html = scheduling.profile()
    assert event.conference["url"] in html
    assert scheduling.interviewer.recruiter.email in html
    roles = dict(interview.attendees.values_list("email", "is_candidate"))
    assert roles[scheduling.world.candidate_address] is True


def test_confirming_twice_schedules_once(scheduling):
    interview = scheduling.schedule()
    _, data = scheduling.search(reverse("interviews:schedule", args=[scheduling.candidate.pk]))
    again = scheduling.world.client.post(
        reverse("interviews:confirm", args=[scheduling.candidate.pk]),
        data | {"start": interview.starts_at.isoformat()},
    )
    assert again.status_code == 200
    assert "already scheduled at that time" in again.content.decode()
    assert Interview.objects.count() == 1
    assert CalendarEvent.objects.filter(mailbox=scheduling.world.recruiter_box).count() == 1


def test_the_candidates_decline_and_the_interviewers_accept_show_after_sync(scheduling):
    interview = scheduling.schedule()
    event = scheduling.organiser_event(interview)
    sandbox.calendar_event_respond(
        mailbox=scheduling.world.candidate_box, ical_uid=event.ical_uid, response="declined"
    )
    sandbox.calendar_event_respond(
        mailbox=scheduling.interviewer.recruiter_box, ical_uid=event.ical_uid, response="accepted"
    )
    report = calendar_sync(connection_id=scheduling.connection().pk)
    assert report.status == "ok" and report.updated == 1
    answers = dict(interview.attendees.values_list("email", "response"))
    assert answers[scheduling.world.candidate_address] == InterviewAttendee.Response.DECLINED
    assert answers[scheduling.interviewer.recruiter.email] == InterviewAttendee.Response.ACCEPTED
    html = scheduling.profile()
    row = re.search(
        rf'data-email="{re.escape(scheduling.world.candidate_address)}">.*?</tr>', html, re.S
    )
    assert row and "Declined" in row.group(0)
    assert scheduling.connection().calendar_synced_at is not None


def test_reschedule_moves_the_event(scheduling):
    interview = scheduling.schedule(start_hour=11)
    url = reverse("interviews:reschedule", args=[scheduling.candidate.pk, interview.pk])
    assert scheduling.world.client.get(url).status_code == 200
    page, data = scheduling.search(url)
    new_start = _at(scheduling.day, 15)
    assert new_start in scheduling.slots(page)
    data.pop("interviewers"), data.pop("title")
    done = scheduling.world.client.post(
        reverse("interviews:reschedule_confirm", args=[scheduling.candidate.pk, interview.pk]),
        data | {"start": new_start.isoformat()},
    )
    assert done.status_code == 302, done.content.decode()[:2000]
    event = scheduling.organiser_event(interview)
    assert event.start == new_start.astimezone(UTC)
    interview.refresh_from_db()
    assert interview.starts_at == new_start.astimezone(UTC)
    assert Interview.objects.count() == 1


def test_cancel_cancels_the_event_and_shows_it(scheduling):
    interview = scheduling.schedule()
    # Graph's events/cancel carries a comment to the attendees; Google's events.delete
    # carries none, so no field is offered there that would drop what was typed.
    offered = 'name="message"' in scheduling.profile()
    assert offered == (scheduling.world.kit.name == "microsoft")
    done = scheduling.world.client.post(
        reverse("interviews:cancel", args=[scheduling.candidate.pk, interview.pk]),
        {"message": "Sorry, the role was filled."},
    )
    assert done.status_code == 302
    interview.refresh_from_db()
    assert interview.status == Interview.Status.CANCELLED
    event = CalendarEvent.objects.get(
        mailbox=scheduling.world.recruiter_box, ical_uid=interview.ical_uid
    )
    assert event.status == CalendarEvent.Status.CANCELLED or event.removed_at is not None
    candidate_copy = CalendarEvent.objects.get(
        mailbox=scheduling.world.candidate_box, ical_uid=interview.ical_uid
    )
    assert candidate_copy.status == CalendarEvent.Status.CANCELLED
    html = scheduling.profile()
    assert "Cancelled" in html and "Reschedule" not in html
    # The profile's history says who scheduled and cancelled it.
    events = [
        entry.additional_data["event"]
        for entry in audit.entries_for_candidate(scheduling.candidate.pk).exclude(actor=None)
    ]
    assert events[:2] == ["interview_cancelled", "interview_scheduled"]


def test_an_event_deleted_in_the_calendar_shows_as_such(scheduling):
    interview = scheduling.schedule()
    event = scheduling.organiser_event(interview)
    if scheduling.world.kit.name == "google":
        sandbox.calendar_event_cancel(event=event, send_updates="all")
    else:
        graph_event_delete(event=event)
    calendar_sync(connection_id=scheduling.connection().pk)
    interview.refresh_from_db()
    assert interview.status == Interview.Status.DELETED_AT_PROVIDER
    assert "Deleted in the calendar" in scheduling.profile()


def test_sync_all_follows_calendars_with_scheduled_interviews(scheduling):
    scheduling.schedule()
    assert calendar_sync_all() == 1
    assert scheduling.connection().calendar_synced_at is not None


def test_the_operators_command_syncs_calendars_and_says_what_it_found(scheduling):
    from io import StringIO

    from django.core.management import call_command

    interview = scheduling.schedule()
    out = StringIO()
    call_command("sync_calendars", stdout=out)
    connection = scheduling.connection()
    assert f"calendar {connection.pk}: ok; 1 events of ours" in out.getvalue()
    assert interview.connection_id == connection.pk


def test_a_revoked_grant_asks_for_reauthorization(scheduling):
    scheduling.schedule()
    scheduling.world.revoke_grant()
    report = calendar_sync(connection_id=scheduling.connection().pk)
    assert report.status == "failed"
    assert scheduling.connection().state == MailboxConnection.State.NEEDS_REAUTHORIZATION


@pytest.mark.django_db
def test_beat_syncs_calendars_on_the_configured_interval(settings):
    task = PeriodicTask.objects.get(name="interviews: sync calendars")
    assert task.task == "interviews.tasks.sync_all_calendars"
    assert task.interval.every == settings.INTERVIEWS_CALENDAR_SYNC_SECONDS


def test_beat_task_syncs_each_calendar_in_a_worker(scheduling, tasks_in_process):
    from interviews.tasks import sync_all_calendars

    interview = scheduling.schedule()
    event = scheduling.organiser_event(interview)
    sandbox.calendar_event_respond(
        mailbox=scheduling.world.candidate_box, ical_uid=event.ical_uid, response="tentative"
    )
    assert sync_all_calendars.delay().get() == 1
    candidate_row = interview.attendees.get(is_candidate=True)
    assert candidate_row.response == InterviewAttendee.Response.TENTATIVE


def test_company_calendar_off_stops_sync_and_changes(scheduling):
    interview = scheduling.schedule()
    organisation = scheduling.world.team.organisation
    organisation.calendar_enabled = False
    organisation.save()
    assert calendar_sync(connection_id=scheduling.connection().pk).status == "skipped"
    assert calendar_sync_all() == 0
    refused = scheduling.world.client.post(
        reverse("interviews:cancel", args=[scheduling.candidate.pk, interview.pk])
    )
    assert refused.status_code == 403
    assert scheduling.organiser_event(interview).status == CalendarEvent.Status.CONFIRMED
    # Still listed on the profile: Off stops the calendar, not what Threadline knows.
    assert interview.title in scheduling.profile()


def test_slots_in_another_zone_keep_working_hours_the_provider_states(scheduling):
    """An organiser in New York. Google states no working hours: 09:00-17:00 in New York.
    Graph states each mailbox's (the sandbox: 08:00-17:00 UTC), which replace the defaults
    and are read in their own zone: 03:00-12:00 in New York in winter."""
    new_york = ZoneInfo("America/New_York")
    page, _ = scheduling.search(
        reverse("interviews:schedule", args=[scheduling.candidate.pk]),
        time_zone="America/New_York",
    )
    starts = scheduling.slots(page)
    assert starts
    assert all(start.astimezone(new_york).date() == scheduling.day for start in starts)
    if scheduling.world.kit.name == "microsoft":
        hours = {start.astimezone(UTC).hour for start in starts}
        assert min(hours) == 8 and max(hours) == 16
    else:
        hours = {start.astimezone(new_york).hour for start in starts}
        assert min(hours) == 9 and max(hours) == 16
    assert "America/New_York" in page.content.decode()


def test_later_rounds_read_changes_since_the_last_one(scheduling, settings):
    """After the first (full) round, Google is asked for changes only (updatedMin), and
    still sees an answer and then the deletion; Graph reads everything every round."""
    settings.INTERVIEWS_CALENDAR_FULL_READ_SECONDS = 10**9
    interview = scheduling.schedule()
    connection_id = scheduling.connection().pk
    assert calendar_sync(connection_id=connection_id).status == "ok"
    event = scheduling.organiser_event(interview)
    sandbox.calendar_event_respond(
        mailbox=scheduling.world.candidate_box, ical_uid=event.ical_uid, response="accepted"
    )
    assert calendar_sync(connection_id=connection_id).updated == 1
    assert interview.attendees.get(is_candidate=True).response == "accepted"
    event.refresh_from_db()
    if scheduling.world.kit.name == "google":
        sandbox.calendar_event_cancel(event=event, send_updates="all")
    else:
        graph_event_delete(event=event)
    assert calendar_sync(connection_id=connection_id).deleted == 1
    interview.refresh_from_db()
    assert interview.status == Interview.Status.DELETED_AT_PROVIDER


def test_the_first_schedule_form_takes_the_browsers_zone_and_later_ones_the_last_used(
    scheduling,
):
    url = reverse("interviews:schedule", args=[scheduling.candidate.pk])
    first = scheduling.world.client.get(url).content.decode()
    # Nothing known of the organiser yet: the page asks the browser (static/js/threadline.js).
    assert re.search(r'<select name="time_zone"[^>]*data-zone-from-browser', first)

    scheduling.schedule()
    later = scheduling.world.client.get(url).content.decode()
    assert "data-zone-from-browser" not in later
    assert '<option value="Europe/London" selected>' in later
