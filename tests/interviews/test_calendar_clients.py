# ruff: noqa: F811
"""The calendar clients (mailsync.providers.google_calendar, graph_calendar) against the
sandbox over HTTP, on both
providers, with the connection the Calendar box's consent made: create, read back,
reschedule and cancel an interview; free/busy of several people; and only our own events
are ever listed (the request log and the answers the sandbox sent prove it)."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from mailsync.models import MailboxConnection
from mailsync.providers import google_calendar as google
from mailsync.providers import graph_calendar as graph
from mailsync.providers.base import ProviderError
from mailsync.providers.calendar import ACCEPTED, NEEDS_ACTION, Attendee, EventDraft
from mailsync.tokens import open_calendar
from sandbox import services as sandbox
from sandbox import tokens
from sandbox.microsoft import calendar as graph_calendar
from sandbox.models import CalendarEvent, Mailbox, RequestLog

# The MailWorld fixtures live with the mail tests; shared here, not copied (imported into
# this module rather than a conftest, so the tests name them as arguments: F811).
from tests.mailsync.conftest import _fresh_quota, gmail_world, world  # noqa: F401

pytestmark = [
    pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning"),
]

NEW_YORK = "America/New_York"
# A Monday after the sandbox clock's "now", in New York's winter time (UTC-5).
START = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo(NEW_YORK))


def _draft(world, *, tag: str = "interview-1", start: datetime = START, **changes) -> EventDraft:
    fields = {
        "title": "Interview: Ada Lovelace",
        "description": "Hello Ada,\nlooking forward to <talking>.",
        "start": start,
        "end": start + timedelta(hours=1),
        "time_zone": NEW_YORK,
        "attendees": [Attendee(email=world.candidate_address, name="Ada Lovelace")],
        "tag": tag,
    }
    return EventDraft(**{**fields, **changes})


def _session(world):
    return open_calendar(world.connect(calendar=True))


def _box(world, local: str) -> Mailbox:
    domain = world.recruiter_box.address.rsplit("@", 1)[1]
    return sandbox.mailbox_create(
        address=f"{local}@{domain}", display_name=local.title(), provider=world.kit.name
    )


def _busy(world, box: Mailbox, start: datetime, end: datetime, title: str = "Busy") -> None:
    """Someone's own event, written in their calendar as their provider would."""
    if world.kit.name == "google":
        sandbox.calendar_event_create(
            mailbox=box,
            fields={
                "summary": title,
                "start": start,
                "end": end,
                "time_zone": "UTC",
                "attendees": [],
            },
        )
    else:
        graph_calendar.event_create(
            mailbox=box,
            fields=graph_calendar.EventFields(summary=title, start=start, end=end, time_zone="UTC"),
        )


def _event_calls(world):
    prefix = "calendar.events." if world.kit.name == "google" else "graph.events."
    return world.log(operation__startswith=prefix)


def test_an_interview_is_created_read_back_moved_and_cancelled(world):
    calendar = _session(world)

    created = calendar.event_create(_draft(world))
    assert created.tag == "interview-1"
    assert created.title == "Interview: Ada Lovelace"
    assert created.start == START.astimezone(UTC)
    assert created.end == START.astimezone(UTC) + timedelta(hours=1)
    if world.kit.name == "google":
        assert created.meeting_url.startswith("https://meet.google.com/")
    else:
        assert "/teams/l/meetup-join/" in created.meeting_url
    assert not created.cancelled
    ada = next(a for a in created.attendees if a.email == world.candidate_address)
    assert ada.response == NEEDS_ACTION
    stored = CalendarEvent.objects.get(mailbox=world.recruiter_box, provider_id=created.event_id)
    assert stored.ical_uid == created.ical_uid
    assert stored.conference["url"] == created.meeting_url
    # The description goes out as written (HTML-escaped for Outlook's HTML body).
    assert "looking forward to" in stored.description
    if world.kit.name == "microsoft":
        assert "Hello Ada,<br>looking forward to &lt;talking&gt;." in stored.description
    else:
        assert stored.description == "Hello Ada,\nlooking forward to <talking>."
    # The candidate was invited by the provider: their own copy of the event.
    assert CalendarEvent.objects.filter(
        mailbox=world.candidate_box, ical_uid=created.ical_uid
    ).exists()

    (listed,) = calendar.tagged_events(changed_since=None)
    assert (listed.event_id, listed.tag, listed.meeting_url) == (
        created.event_id,
        "interview-1",
        created.meeting_url,
    )

    later = START + timedelta(days=1, hours=2)
    moved = calendar.event_update(created.event_id, _draft(world, start=later))
    assert moved.event_id == created.event_id
    assert moved.start == later.astimezone(UTC)
    assert moved.meeting_url == created.meeting_url
    copy = CalendarEvent.objects.get(mailbox=world.candidate_box, ical_uid=created.ical_uid)
    assert copy.start == later.astimezone(UTC)

    before_cancel = datetime.now(UTC) - timedelta(seconds=1)
    calendar.event_cancel(created.event_id, message="Sorry, the role was filled.")
    copy.refresh_from_db()
    assert copy.status == CalendarEvent.Status.CANCELLED
    for changed_since in (None, before_cancel):
        remaining = calendar.tagged_events(changed_since=changed_since)
        if world.kit.name == "google":
            # Google lists the deleted event, by its id alone, as cancelled.
            assert [(e.event_id, e.cancelled) for e in remaining] == [(created.event_id, True)]
        else:
            # Graph no longer has it: missing from a full read means deleted.
            assert remaining == []
    # Cancelling again is fine: already gone.
    calendar.event_cancel(created.event_id)


def test_the_candidates_answer_reads_back(world):
    calendar = _session(world)
    created = calendar.event_create(_draft(world))
    copy = CalendarEvent.objects.get(mailbox=world.candidate_box, ical_uid=created.ical_uid)
    if world.kit.name == "google":
        sandbox.calendar_event_respond(
            mailbox=world.candidate_box, ical_uid=created.ical_uid, response="accepted"
        )
    else:
        graph_calendar.event_respond(event=copy, action="accept")
    (event,) = calendar.tagged_events(changed_since=None)
    ada = next(a for a in event.attendees if a.email == world.candidate_address)
    assert ada.response == ACCEPTED


def test_availability_of_several_people_one_of_them_busy(world):
    calendar = _session(world)
    busy, free = _box(world, "bea"), _box(world, "fred")
    meeting_start = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    _busy(world, busy, meeting_start, meeting_start + timedelta(minutes=90))
    window_start = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)

    found = calendar.availability(
        [world.recruiter_box.address, busy.address, free.address, "nobody@elsewhere.test"],
        window_start,
        window_start + timedelta(hours=8),
        time_zone=NEW_YORK,
    )

    assert found[busy.address].busy == [(meeting_start, meeting_start + timedelta(minutes=90))]
    assert not found[busy.address].error
    assert found[free.address].busy == []
    assert found[world.recruiter_box.address].busy == []
    assert found["nobody@elsewhere.test"].error
    if world.kit.name == "microsoft":
        hours = found[busy.address].working_hours
        assert hours is not None and hours.days == frozenset({1, 2, 3, 4, 5})
    (asked,) = world.log(
        operation="calendar.freebusy.query"
        if world.kit.name == "google"
        else "graph.calendar.getSchedule"
    )
    assert asked.status == 200


def test_availability_counts_the_organisers_own_interviews(world):
    calendar = _session(world)
    created = calendar.event_create(_draft(world))
    found = calendar.availability(
        [world.recruiter_box.address],
        START - timedelta(hours=2),
        START + timedelta(hours=4),
        time_zone=NEW_YORK,
    )
    assert found[world.recruiter_box.address].busy == [(created.start, created.end)]


def test_only_our_events_are_ever_listed(world, settings):
    settings.SANDBOX_LOG_RESPONSE_BODIES = True
    calendar = _session(world)
    private = START + timedelta(days=2)
    _busy(world, world.recruiter_box, private, private + timedelta(hours=1), "Dentist: secret")
    ours = calendar.event_create(_draft(world, tag="interview-7"))

    since = datetime.now(UTC) - timedelta(minutes=5)
    for changed_since in (None, since):
        events = calendar.tagged_events(changed_since=changed_since)
        assert [(e.event_id, e.tag) for e in events] == [(ours.event_id, "interview-7")]

    calls = list(_event_calls(world))
    listed = [c for c in calls if c.operation.endswith(".list")]
    assert len(listed) == 2
    for call in listed:
        query = parse_qs(urlsplit(call.path).query)
        if world.kit.name == "google":
            assert query["privateExtendedProperty"] == [google.MARKER_FILTER]
        else:
            assert query["$filter"] == [graph.MARKER_FILTER]
    # Nothing but our own event was ever read by id, and no other listing was used.
    assert {c.operation.rsplit(".", 1)[-1] for c in calls} <= {"insert", "create", "list"}
    assert not world.log(operation__contains="calendarView").exists()
    assert not any("Dentist" in c.response_body for c in world.log())


def test_a_revoked_grant_asks_for_reauthorization(world):
    calendar = _session(world)
    world.revoke_grant()
    with pytest.raises(ProviderError) as failure:
        calendar.tagged_events(changed_since=None)
    assert failure.value.needs_reauthorization


def test_a_lost_answer_to_a_google_insert_does_not_make_a_second_event(gmail_world):
    # Graph's guard (transactionId) is Microsoft's own; the sandbox does not emulate it.
    world = gmail_world
    calendar = _session(world)
    first = calendar.event_create(_draft(world))
    again = calendar.event_create(_draft(world))
    assert again.event_id == first.event_id
    assert CalendarEvent.objects.filter(mailbox=world.recruiter_box).count() == 1
    assert RequestLog.objects.filter(operation="calendar.events.insert", status=409).exists()


def _expire_access_token(connection: MailboxConnection) -> str:
    """Time passes: the stored access token is past its expiry, here and at the provider.
    Returns the expired token."""
    credentials = json.loads(connection.credentials)
    past = datetime.now(UTC) - timedelta(minutes=5)
    if connection.provider == "google":
        expired = credentials["token"]
        credentials["expiry"] = past.isoformat()
    else:
        cache = json.loads(credentials["msal_cache"])
        for entry in cache.get("AccessToken", {}).values():
            entry["expires_on"] = entry["extended_expires_on"] = str(int(past.timestamp()))
            expired = entry["secret"]
        credentials["msal_cache"] = json.dumps(cache)
    MailboxConnection.objects.filter(pk=connection.pk).update(credentials=json.dumps(credentials))
    tokens.token_expire(token=expired)
    return expired


def test_a_refreshed_token_is_written_back_to_the_connection(world):
    connection = world.connect(calendar=True)
    expired = _expire_access_token(connection)
    calendar = open_calendar(MailboxConnection.objects.get(pk=connection.pk))

    assert calendar.tagged_events(changed_since=None) == []

    stored = MailboxConnection.objects.get(pk=connection.pk).credentials
    assert expired not in stored
    refresh = (
        "oauth2.token.refresh_token"
        if world.kit.name == "google"
        else ("identity.token.refresh_token")
    )
    assert RequestLog.objects.filter(operation=refresh, status=200).count() == 1


def test_a_google_tag_once_deleted_is_not_revived(gmail_world):
    # Google event ids derive from the tag; Graph's ids are Microsoft's.
    world = gmail_world
    calendar = _session(world)
    first = calendar.event_create(_draft(world))
    calendar.event_cancel(first.event_id)
    with pytest.raises(ProviderError) as failure:
        calendar.event_create(_draft(world))
    assert failure.value.reason == "duplicate" and failure.value.permanent


def test_every_call_sends_the_same_prefer_header(world):
    """O365 appends its default Prefer to the headers it is handed: a shared constant grew
    by one value per call in a process until servers refused the request (431)."""
    calendar = _session(world)
    for _ in range(3):
        assert calendar.tagged_events(changed_since=None) == []
    sent = list(
        RequestLog.objects.filter(operation__endswith="events.list").values_list(
            "prefer", flat=True
        )
    )
    assert len(sent) == 3
    assert len(set(sent)) == 1, sent
