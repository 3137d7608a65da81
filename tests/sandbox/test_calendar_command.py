"""`manage.py sandbox event-create`, `event-respond` and `token` with calendar and contacts
scopes given as full scope URLs, checked through each provider's API over HTTP."""

import io
import json

import pytest
import requests
from django.core.management import CommandError, call_command
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from sandbox.google import scopes
from tests.sandbox.conftest import GraphClient


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("sandbox", *args, stdout=out)
    return out.getvalue().strip()


def google_calendar(google_root: str, token: str):
    return build(
        "calendar",
        "v3",
        credentials=Credentials(token),
        static_discovery=True,
        client_options={"api_endpoint": f"{google_root}calendar/v3/"},
    )


def test_event_create_makes_a_google_user_busy_in_their_time_zone(
    live_server, google_root, recruiter, make_mailbox
):
    make_mailbox("colin@agency.test", display_name="Colin Colleague")
    made = json.loads(
        run(
            "event-create",
            recruiter.address,
            "--start=2026-03-27T10:00",  # the Friday before Berlin's DST switch
            "--duration=45",
            "--title=Quarterly planning",
            "--tz=Europe/Berlin",
            "--attendee=colin@agency.test",
            "--attendee=carl@people.test",
            "--online-meeting",
        )
    )
    assert made["start"] == "2026-03-27T09:00:00+00:00"
    assert made["end"] == "2026-03-27T09:45:00+00:00"
    assert made["meetingUrl"].startswith("https://meet.google.com/")
    assert made["attendees"]["carl@people.test"] == "needsAction"

    token = run(
        "token",
        recruiter.address,
        f"--scope={scopes.CALENDAR_EVENTS}",
        "--scope=https://www.googleapis.com/auth/calendar.freebusy",
    )
    calendar = google_calendar(google_root, token)
    busy = (
        calendar.freebusy()
        .query(
            body={
                "timeMin": "2026-03-27T00:00:00Z",
                "timeMax": "2026-03-28T00:00:00Z",
                "items": [{"id": "primary"}, {"id": "colin@agency.test"}],
            }
        )
        .execute()["calendars"]
    )
    expected = [{"start": "2026-03-27T09:00:00Z", "end": "2026-03-27T09:45:00Z"}]
    assert busy["primary"]["busy"] == expected
    assert busy["colin@agency.test"]["busy"] == expected  # the invitation reached him
    (event,) = calendar.events().list(calendarId="primary").execute()["items"]
    assert event["summary"] == "Quarterly planning"
    assert event["start"] == {"dateTime": "2026-03-27T10:00:00+01:00", "timeZone": "Europe/Berlin"}

    # --end instead of --duration; a time zone in the value wins over --tz.
    later = json.loads(
        run(
            "event-create",
            recruiter.address,
            "--start=2026-03-30T08:00:00-04:00",
            "--end=2026-03-30T09:00:00-04:00",
        )
    )
    assert later["start"] == "2026-03-30T12:00:00+00:00" and later["title"] == "Busy"


def test_event_create_refuses_bad_input(recruiter):
    with pytest.raises(CommandError, match="No sandbox mailbox"):
        run("event-create", "nobody@x.test", "--start=2026-03-27T10:00", "--duration=30")
    with pytest.raises(CommandError, match="not a date and time"):
        run("event-create", recruiter.address, "--start=tomorrow", "--duration=30")
    with pytest.raises(CommandError, match="Unknown time zone"):
        run(
            "event-create", recruiter.address, "--start=2026-03-27T10:00", "--duration=30", "--tz=X"
        )
    with pytest.raises(CommandError, match="must end after it starts"):
        run("event-create", recruiter.address, "--start=2026-03-27T10:00", "--end=2026-03-27T09:00")
    with pytest.raises(CommandError, match="positive number of minutes"):
        run("event-create", recruiter.address, "--start=2026-03-27T10:00", "--duration=0")


def test_event_respond_answers_as_an_outside_attendee_by_title_or_id(
    live_server, google_root, recruiter, token_for
):
    made = json.loads(
        run(
            "event-create",
            recruiter.address,
            "--start=2026-03-09T14:00",
            "--duration=60",
            "--title=Interview: Carl",
            "--attendee=Carl@People.test",
        )
    )
    answered = json.loads(
        run("event-respond", "carl@people.test", "--title=interview: carl", "--answer=yes")
    )
    assert answered["answer"] == "accepted" and answered["id"] == made["id"]
    calendar = google_calendar(google_root, token_for(recruiter, scopes.CALENDAR_EVENTS))
    event = calendar.events().get(calendarId="primary", eventId=made["id"]).execute()
    assert {a["email"]: a["responseStatus"] for a in event["attendees"]}["carl@people.test"] == (
        "accepted"
    )

    maybe = json.loads(
        run("event-respond", "carl@people.test", f"--id={made['iCalUID']}", "--answer=maybe")
    )
    assert maybe["answer"] == "tentative"
    with pytest.raises(CommandError, match="Not an answer"):
        run("event-respond", "carl@people.test", f"--id={made['id']}", "--answer=perhaps")
    with pytest.raises(CommandError, match=r"No invitation of carl@people\.test titled"):
        run("event-respond", "carl@people.test", "--title=Lunch", "--answer=accept")
    with pytest.raises(CommandError, match=r"ann@people\.test is not invited"):
        run("event-respond", "ann@people.test", f"--id={made['id']}", "--answer=accept")
    with pytest.raises(CommandError, match="No event nope"):
        run("event-respond", "carl@people.test", "--id=nope", "--answer=accept")


def test_microsoft_event_create_and_respond_show_in_getschedule_and_the_event(
    ms_server, recruiter_ms, ms_mailbox
):
    ms_mailbox("ian@agency365.test", display_name="Ian Interviewer")
    made = json.loads(
        run(
            "event-create",
            recruiter_ms.address,
            "--start=2026-12-01T09:00",
            "--duration=30",
            "--tz=America/New_York",
            "--title=Standup",
            "--attendee=ian@agency365.test",
            "--attendee=carl@people.test",
            "--online-meeting",
        )
    )
    assert made["meetingUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    run("event-respond", "carl@people.test", "--title=Standup", "--answer=decline")

    token = run(
        "token",
        recruiter_ms.address,
        "--scope=https://graph.microsoft.com/Calendars.ReadWrite",
        "--scope=https://graph.microsoft.com/Contacts.Read",
        "--scope=https://graph.microsoft.com/People.Read",
    )
    graph = GraphClient(f"{ms_server.url}/sandbox/microsoft/graph/v1.0", token)
    event = graph.get(f"me/events/{made['id']}").json()
    assert event["subject"] == "Standup" and event["isOnlineMeeting"] is True
    assert event["start"]["dateTime"].startswith("2026-12-01T14:00:00")
    statuses = {a["emailAddress"]["address"]: a["status"]["response"] for a in event["attendees"]}
    assert statuses["carl@people.test"] == "declined"
    schedule = graph.post(
        "me/calendar/getSchedule",
        {
            "schedules": ["ian@agency365.test"],
            "startTime": {"dateTime": "2026-12-01T14:00:00", "timeZone": "UTC"},
            "endTime": {"dateTime": "2026-12-01T15:00:00", "timeZone": "UTC"},
            "availabilityViewInterval": 30,
        },
    ).json()
    # Ian has not answered: Outlook holds the time tentatively.
    assert schedule["value"][0]["availabilityView"] == "10"
    assert graph.get("me/contacts").status_code == 200
    assert graph.get("me/people").status_code == 200


def test_token_issues_calendar_and_contacts_scopes_given_as_full_urls(
    live_server, google_root, ms_server, recruiter, recruiter_ms
):
    # Google: the calendar scopes open the Calendar API, the contacts ones the People API,
    # and nothing else; short names work too.
    calendar_only = run(
        "token",
        recruiter.address,
        "--scope=https://www.googleapis.com/auth/calendar.events",
        "--scope=https://www.googleapis.com/auth/calendar.freebusy",
    )
    contacts_only = run(
        "token",
        recruiter.address,
        "--scope=https://www.googleapis.com/auth/contacts.readonly",
        "--scope=https://www.googleapis.com/auth/contacts.other.readonly",
    )
    short = run("token", recruiter.address, "--scope=calendar", "--scope=freebusy")
    events = f"{google_root}calendar/v3/calendars/primary/events"
    people = f"{google_root}v1/otherContacts"

    def get(url: str, token: str, **params: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.get(url, params=params, headers=headers, timeout=10).status_code

    assert get(events, calendar_only) == 200 and get(events, short) == 200
    assert get(events, contacts_only) == 403
    assert get(people, contacts_only, readMask="names") == 200
    assert get(people, calendar_only, readMask="names") == 403

    # Microsoft: full Graph URLs, in any case, and short names.
    graph_root = f"{ms_server.url}/sandbox/microsoft/graph/v1.0"
    for scope in ["https://graph.microsoft.com/Calendars.ReadWrite", "calendar"]:
        graph = GraphClient(graph_root, run("token", recruiter_ms.address, f"--scope={scope}"))
        assert graph.get("me/events").status_code == 200
        assert graph.get("me/contacts").status_code == 403
    contacts_token = run(
        "token", recruiter_ms.address, "--scope=https://graph.microsoft.com/contacts.read"
    )
    graph = GraphClient(graph_root, contacts_token)
    assert graph.get("me/contacts").status_code == 200
    assert graph.get("me/events").status_code == 403
