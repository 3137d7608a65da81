"""The sandbox's calendar pages over HTTP: a sandbox user's week, and answering an
invitation as its attendee (a candidate whose address is not a sandbox mailbox). The
answer must reach the organiser's event the way each provider face serves it: Google's
Calendar client sees it through a sync token and a new etag, Graph through calendarView
delta and a new changeKey."""

import re

import pytest
from django.test import Client
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from sandbox.google import scopes
from sandbox.models import CalendarEvent

CANDIDATE = "carl@people.test"  # not a sandbox mailbox


@pytest.fixture
def calendar_for(google_root, token_for):
    def make(mailbox):
        token = token_for(mailbox, scopes.CALENDAR_EVENTS, scopes.CALENDAR_FREEBUSY)
        return build(
            "calendar",
            "v3",
            credentials=Credentials(token),
            static_discovery=True,
            client_options={"api_endpoint": f"{google_root}calendar/v3/"},
        )

    return make


@pytest.fixture
def colleague(make_mailbox):
    return make_mailbox("colin@agency.test", display_name="Colin Colleague")


def _google_interview(calendar, *attendees: str) -> dict:
    body = {
        "summary": "Interview: Carl",
        "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": a} for a in attendees],
        "conferenceData": {
            "createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
        },
    }
    return (
        calendar.events()
        .insert(calendarId="primary", body=body, conferenceDataVersion=1, sendUpdates="all")
        .execute()
    )


def _rows(html: str, css_class: str) -> list[str]:
    return re.findall(rf'<tr class="{css_class}[^"]*".*?</tr>', html, flags=re.S)


def test_the_calendar_page_shows_a_week_with_answers_and_the_meet_link(
    live_server, recruiter, colleague, calendar_for
):
    made = _google_interview(calendar_for(recruiter), colleague.address, CANDIDATE)
    client = Client()

    page = client.get(
        f"/sandbox/mailboxes/{recruiter.address}/calendar",
        {"week": "2026-12-03", "tz": "Europe/Berlin"},
    )
    assert page.status_code == 200
    html = page.content.decode()
    (row,) = _rows(html, "event")
    assert "09:00–10:00" in row and "Interview: Carl" in row
    assert f'{CANDIDATE} — <span class="response">needsAction</span>' in row
    assert made["hangoutLink"] in row and "Confirmed" in row
    assert "Week of Monday 30 November 2026 (Europe/Berlin)" in html

    # The same event in UTC starts at 08:00; the colleague's copy names its organiser.
    copy = client.get(
        f"/sandbox/mailboxes/{colleague.address}/calendar", {"week": "2026-12-01", "tz": "UTC"}
    ).content.decode()
    (row,) = _rows(copy, "event")
    assert "08:00–09:00" in row and "Rita Recruiter" in row
    # Another week is empty; the mailbox page links the calendar.
    other = client.get(f"/sandbox/mailboxes/{recruiter.address}/calendar", {"week": "2026-12-08"})
    assert _rows(other.content.decode(), "event") == []
    mailbox_page = client.get(f"/sandbox/mailboxes/{recruiter.address}/").content.decode()
    assert f"/sandbox/mailboxes/{recruiter.address}/calendar" in mailbox_page
    assert "/sandbox/invitations/" in client.get("/sandbox/").content.decode()


def test_bad_calendar_and_invitation_input_is_a_field_error_not_a_crash(recruiter):
    client = Client()
    calendar = f"/sandbox/mailboxes/{recruiter.address}/calendar"
    bad_zone = client.get(calendar, {"tz": "Mars/Olympus_Mons"})
    assert bad_zone.status_code == 400
    assert "Unknown time zone: Mars/Olympus_Mons" in bad_zone.content.decode()
    bad_week = client.get(calendar, {"week": "next tuesday"})
    assert bad_week.status_code == 400 and "Enter a valid date." in bad_week.content.decode()
    assert client.get("/sandbox/mailboxes/nobody@nowhere.test/calendar").status_code == 404

    bad_email = client.get("/sandbox/invitations/", {"email": "carl@"})
    assert bad_email.status_code == 400
    assert "Enter a valid email address." in bad_email.content.decode()
    unknown = client.post(
        "/sandbox/invitations/",
        {"email": CANDIDATE, "ical_uid": "nope@google.com", "answer": "accepted"},
    )
    assert unknown.status_code == 400
    assert f"{CANDIDATE} is not invited to this event." in unknown.content.decode()
    bad_answer = client.post(
        "/sandbox/invitations/", {"email": CANDIDATE, "ical_uid": "x", "answer": "perhaps"}
    )
    assert bad_answer.status_code == 400
    assert "Select a valid choice." in bad_answer.content.decode()
    assert client.put("/sandbox/invitations/").status_code == 405


def test_a_candidate_accepts_a_google_invitation_and_the_organisers_sync_sees_it(
    live_server, recruiter, colleague, calendar_for
):
    calendar = calendar_for(recruiter)
    made = _google_interview(calendar, colleague.address, CANDIDATE)
    listed = calendar.events().list(calendarId="primary").execute()
    sync_token = listed["nextSyncToken"]
    client = Client()

    page = client.get("/sandbox/invitations/", {"email": CANDIDATE.upper()})
    assert page.status_code == 200
    (row,) = _rows(page.content.decode(), "invitation")
    assert "Interview: Carl" in row and "needsAction" in row and made["hangoutLink"] in row
    # Nobody else's invitations: the organiser is not invited to their own event.
    mine = client.get("/sandbox/invitations/", {"email": recruiter.address}).content.decode()
    assert _rows(mine, "invitation") == []

    answered = client.post(
        "/sandbox/invitations/",
        {"email": CANDIDATE, "ical_uid": made["iCalUID"], "answer": "accepted"},
        follow=True,
    )
    assert answered.redirect_chain[-1][0] == "/sandbox/invitations/?email=carl%40people.test"
    (row,) = _rows(answered.content.decode(), "invitation")
    assert '<td class="answer">accepted</td>' in row

    changed = calendar.events().list(calendarId="primary", syncToken=sync_token).execute()
    (event,) = changed["items"]
    assert event["id"] == made["id"] and event["etag"] != made["etag"]
    assert event["updated"] > made["updated"]
    answers = {a["email"]: a["responseStatus"] for a in event["attendees"]}
    assert answers == {colleague.address: "needsAction", CANDIDATE: "accepted"}
    # Only the fields of Google's Event resource (Graph's answer time is not one of them).
    assert all(set(a) <= {"email", "responseStatus", "self"} for a in event["attendees"])
    # The colleague's copy carries the answer too, moved in their calendar's change order.
    (copy,) = calendar_for(colleague).events().list(calendarId="primary").execute()["items"]
    assert {a["email"]: a["responseStatus"] for a in copy["attendees"]}[CANDIDATE] == "accepted"

    client.post(
        "/sandbox/invitations/",
        {"email": CANDIDATE, "ical_uid": made["iCalUID"], "answer": "declined"},
    )
    again = calendar.events().get(calendarId="primary", eventId=made["id"]).execute()
    assert {a["email"]: a["responseStatus"] for a in again["attendees"]}[CANDIDATE] == "declined"

    # A cancelled meeting can no longer be answered.
    calendar.events().delete(calendarId="primary", eventId=made["id"]).execute()
    refused = client.post(
        "/sandbox/invitations/",
        {"email": CANDIDATE, "ical_uid": made["iCalUID"], "answer": "accepted"},
    )
    assert refused.status_code == 400
    assert "The meeting was cancelled." in refused.content.decode()


def test_a_candidate_declines_a_teams_invitation_and_graph_delta_reports_it(
    graph_for, recruiter_ms, ms_mailbox
):
    colleague = ms_mailbox("ian@agency365.test", display_name="Ian Interviewer")
    graph = graph_for(recruiter_ms, "Calendars.ReadWrite")
    made = graph.post(
        "me/events",
        {
            "subject": "Interview: Carl",
            "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
            "attendees": [
                {"emailAddress": {"address": colleague.address}, "type": "required"},
                {"emailAddress": {"address": CANDIDATE}, "type": "required"},
            ],
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
        },
    ).json()
    window = {"startDateTime": "2026-11-30T00:00:00Z", "endDateTime": "2026-12-07T00:00:00Z"}
    first = graph.get("me/calendarView/delta", params=window).json()
    delta_link = first["@odata.deltaLink"]
    client = Client()

    (row,) = _rows(
        client.get("/sandbox/invitations/", {"email": CANDIDATE}).content.decode(), "invitation"
    )
    assert made["onlineMeeting"]["joinUrl"].replace("&", "&amp;") in row and ">Teams<" in row
    client.post(
        "/sandbox/invitations/",
        {"email": CANDIDATE, "ical_uid": made["iCalUId"], "answer": "declined"},
    )

    (changed,) = graph.get(delta_link).json()["value"]
    assert changed["id"] == made["id"]
    event = graph.get(f"me/events/{made['id']}").json()
    assert event["changeKey"] != made["changeKey"]
    statuses = {a["emailAddress"]["address"]: a["status"]["response"] for a in event["attendees"]}
    assert statuses == {colleague.address: "none", CANDIDATE: "declined"}
    times = {a["emailAddress"]["address"]: a["status"]["time"] for a in event["attendees"]}
    assert times[CANDIDATE] > "2026" and times[colleague.address].startswith("0001-")

    # A sandbox user answering from the page: their Outlook copy leaves their calendar on
    # decline, as Exchange moves it out, and the organiser sees the answer.
    client.post(
        "/sandbox/invitations/",
        {"email": colleague.address, "ical_uid": made["iCalUId"], "answer": "declined"},
    )
    assert graph_for(colleague, "Calendars.Read").get("me/events").json()["value"] == []
    event = graph.get(f"me/events/{made['id']}").json()
    statuses = {a["emailAddress"]["address"]: a["status"]["response"] for a in event["attendees"]}
    assert statuses[colleague.address] == "declined"
    assert CalendarEvent.objects.filter(mailbox=colleague, removed_at__isnull=False).count() == 1
