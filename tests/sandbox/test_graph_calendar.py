"""Graph's calendar subset over real HTTPS: events with Teams meetings, attendees' copies
and answers, getSchedule, calendarView delta, extended properties, scopes, throttling,
the request log, and MSAL consent for Calendars.ReadWrite."""

from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests
from django.test import Client

from sandbox import services
from sandbox.models import RequestLog

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning")

TAG = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name threadline"
CALENDAR = "Calendars.ReadWrite"
PACIFIC, EASTERN = "Pacific Standard Time", "Eastern Standard Time"


@pytest.fixture
def colleague_ms(ms_mailbox):
    return ms_mailbox("ian@agency365.test", display_name="Ian Interviewer")


def _event(subject: str, start: str, end: str, zone: str = "UTC", **extra) -> dict:
    return {
        "subject": subject,
        "body": {"contentType": "HTML", "content": "<p>Interview</p>"},
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        **extra,
    }


def _interview(colleague, tag_value: str = "cand-1", start: str = "2026-12-01T09:00:00") -> dict:
    hour = int(start[11:13])
    return _event(
        "Interview: Carl",
        start,
        f"{start[:11]}{hour + 1:02d}{start[13:]}",
        PACIFIC,
        attendees=[
            {"emailAddress": {"address": colleague.address, "name": "Ian"}, "type": "required"},
            {"emailAddress": {"address": "carl@people.test", "name": "Carl"}, "type": "required"},
        ],
        isOnlineMeeting=True,
        onlineMeetingProvider="teamsForBusiness",
        singleValueExtendedProperties=[{"id": TAG, "value": tag_value}],
    )


def _only(graph, path: str) -> dict:
    answer = graph.get(path)
    assert answer.status_code == 200, answer.text
    (event,) = answer.json()["value"]
    return event


def test_organizer_creates_a_teams_interview_and_the_colleague_gets_a_copy(
    graph_for, ms_server, recruiter_ms, colleague_ms
):
    graph = graph_for(recruiter_ms, CALENDAR, Prefer=f'outlook.timezone="{EASTERN}"')
    created = graph.post("me/events", _interview(colleague_ms))
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["isOnlineMeeting"] is True
    assert event["onlineMeetingProvider"] == "teamsForBusiness"
    join_url = event["onlineMeeting"]["joinUrl"]
    assert join_url.startswith(
        f"{ms_server.url}/sandbox/microsoft/teams/l/meetup-join/19%3ameeting_"
    )
    meeting_page = requests.get(join_url, timeout=10)
    assert meeting_page.status_code == 200 and "Interview: Carl" in meeting_page.text
    assert event["isOrganizer"] is True and event["responseStatus"]["response"] == "organizer"
    # 09:00 Pacific is 12:00 Eastern, the zone the client prefers.
    assert event["start"] == {"dateTime": "2026-12-01T12:00:00.0000000", "timeZone": EASTERN}
    assert event["originalStartTimeZone"] == PACIFIC
    assert created.headers["Preference-Applied"] == f'outlook.timezone="{EASTERN}"'
    assert {a["emailAddress"]["address"]: a["status"]["response"] for a in event["attendees"]} == {
        colleague_ms.address: "none",
        "carl@people.test": "none",
    }
    assert "singleValueExtendedProperties" not in event

    expanded = graph.get(
        f"me/events/{event['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{TAG}')"},
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": TAG, "value": "cand-1"}]

    copy = _only(graph_for(colleague_ms, CALENDAR), "me/events")
    assert copy["iCalUId"] == event["iCalUId"] and copy["id"] != event["id"]
    assert copy["isOrganizer"] is False
    assert copy["responseStatus"]["response"] == "none"
    assert copy["showAs"] == "tentative"
    assert copy["organizer"]["emailAddress"]["address"] == recruiter_ms.address
    assert copy["onlineMeeting"]["joinUrl"] == event["onlineMeeting"]["joinUrl"]
    # The organizer's extended properties are its own item's, not the invitation's.
    copy_props = graph_for(colleague_ms, CALENDAR).get(
        f"me/events/{copy['id']}", params={"$expand": "singleValueExtendedProperties"}
    )
    assert "singleValueExtendedProperties" not in copy_props.json()


def test_reschedule_answers_and_cancellation_reach_the_other_side(
    graph_for, recruiter_ms, colleague_ms
):
    organizer = graph_for(recruiter_ms, CALENDAR)
    colleague = graph_for(colleague_ms, CALENDAR)
    event = organizer.post("me/calendar/events", _interview(colleague_ms)).json()
    copy = _only(colleague, "me/events")

    assert colleague.post(f"me/events/{copy['id']}/accept", {"comment": "OK"}).status_code == 202
    answers = organizer.get(f"me/events/{event['id']}").json()["attendees"]
    assert {a["emailAddress"]["address"]: a["status"]["response"] for a in answers}[
        colleague_ms.address
    ] == "accepted"
    assert colleague.get(f"me/events/{copy['id']}").json()["showAs"] == "busy"

    moved = organizer.patch(
        f"me/events/{event['id']}",
        {
            "start": {"dateTime": "2026-12-02T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-02T11:00:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200, moved.text
    copy = colleague.get(f"me/events/{copy['id']}").json()
    assert copy["start"]["dateTime"] == "2026-12-02T10:00:00.0000000"
    # A new time asks every attendee again.
    assert copy["responseStatus"]["response"] == "none"

    refused = colleague.post(f"me/events/{copy['id']}/cancel", {"comment": "no"})
    assert refused.status_code == 400
    assert (
        organizer.post(f"me/events/{event['id']}/cancel", {"comment": "Filled"}).status_code == 202
    )
    gone = organizer.get(f"me/events/{event['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorItemNotFound"
    cancelled = colleague.get(f"me/events/{copy['id']}").json()
    assert cancelled["isCancelled"] is True


def test_delete_cancels_copies_and_a_decline_reaches_the_organizer(
    graph_for, recruiter_ms, colleague_ms
):
    organizer = graph_for(recruiter_ms, CALENDAR)
    colleague = graph_for(colleague_ms, CALENDAR)
    first = organizer.post("me/events", _interview(colleague_ms)).json()
    second = organizer.post(
        "me/events", _interview(colleague_ms, "cand-2", "2026-12-03T09:00:00")
    ).json()
    copies = {c["iCalUId"]: c["id"] for c in colleague.get("me/events").json()["value"]}

    assert colleague.post(f"me/events/{copies[second['iCalUId']]}/decline", {}).status_code == 202
    answers = organizer.get(f"me/events/{second['id']}").json()["attendees"]
    assert answers[0]["status"]["response"] == "declined"
    # Outlook takes a declined invitation out of the attendee's calendar.
    assert colleague.get(f"me/events/{copies[second['iCalUId']]}").status_code == 404

    assert organizer.request("DELETE", f"me/events/{first['id']}").status_code == 204
    assert organizer.get(f"me/events/{first['id']}").status_code == 404
    assert colleague.get(f"me/events/{copies[first['iCalUId']]}").json()["isCancelled"] is True


def test_get_schedule_shows_busy_blocks_across_time_zones(
    graph_for, recruiter_ms, colleague_ms, ms_mailbox
):
    colleague = graph_for(colleague_ms, CALENDAR)
    # 09:00-10:00 in Los Angeles, an accepted hour; and a free hour that must not count.
    colleague.post(
        "me/events", _event("Busy", "2026-12-01T09:00:00", "2026-12-01T10:00:00", PACIFIC)
    )
    colleague.post(
        "me/events",
        _event("Free", "2026-12-01T11:00:00", "2026-12-01T12:00:00", PACIFIC, showAs="free"),
    )
    ms_mailbox("someone@other365.test")
    graph = graph_for(recruiter_ms, "Calendars.ReadBasic")
    answer = graph.post(
        "me/calendar/getSchedule",
        {
            "schedules": [colleague_ms.address, "someone@other365.test"],
            "startTime": {"dateTime": "2026-12-01T11:00:00", "timeZone": EASTERN},
            "endTime": {"dateTime": "2026-12-01T15:00:00", "timeZone": EASTERN},
            "availabilityViewInterval": 60,
        },
    )
    assert answer.status_code == 200, answer.text
    mine, stranger = answer.json()["value"]
    assert mine["scheduleId"] == colleague_ms.address
    # 11, 12, 13, 14 Eastern: busy 12:00-13:00 Eastern (09:00 Pacific).
    assert mine["availabilityView"] == "0200"
    (item,) = mine["scheduleItems"]
    assert item["status"] == "busy"
    assert item["start"] == {"dateTime": "2026-12-01T12:00:00.0000000", "timeZone": EASTERN}
    # Colleagues see free/busy, not subjects.
    assert "subject" not in item
    assert mine["workingHours"]["daysOfWeek"][0] == "monday"
    assert stranger["scheduleId"] == "someone@other365.test"
    assert stranger["error"]["responseCode"] == "ErrorMailRecipientNotFound"

    mail_only = graph_for(recruiter_ms, "Mail.ReadWrite")
    refused = mail_only.post("me/calendar/getSchedule", {"schedules": [colleague_ms.address]})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ErrorAccessDenied"


def test_calendar_view_delta_pages_then_reports_changes_and_removals(
    graph_for, recruiter_ms, colleague_ms
):
    graph = graph_for(recruiter_ms, CALENDAR, Prefer="odata.maxpagesize=2")
    made = [
        graph.post(
            "me/events", _event(f"E{n}", f"2026-12-0{n + 1}T09:00:00", f"2026-12-0{n + 1}T10:00:00")
        ).json()
        for n in range(5)
    ]
    graph.post("me/events", _event("Outside", "2027-03-01T09:00:00", "2027-03-01T10:00:00"))
    window = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2026-12-31T00:00:00Z"}
    refused = graph.get("me/calendarView/delta", params={**window, "$filter": "subject eq 'E1'"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ErrorInvalidUrlQuery"

    seen, pages = [], 0
    answer = graph.get("me/calendarView/delta", params=window).json()
    while True:
        pages += 1
        seen += [item["subject"] for item in answer["value"]]
        if "@odata.deltaLink" in answer:
            break
        assert "$skiptoken=" in answer["@odata.nextLink"]
        answer = graph.get(answer["@odata.nextLink"]).json()
    assert sorted(seen) == ["E0", "E1", "E2", "E3", "E4"] and pages == 3
    delta_link = answer["@odata.deltaLink"]
    assert "$deltatoken=" in delta_link

    quiet = graph.get(delta_link).json()
    assert quiet["value"] == [] and "@odata.deltaLink" in quiet

    graph.patch(f"me/events/{made[1]['id']}", {"subject": "E1 renamed"})
    graph.request("DELETE", f"me/events/{made[2]['id']}")
    graph.post("me/events", _event("E5", "2026-12-20T09:00:00", "2026-12-20T10:00:00"))
    changes = graph.get(quiet["@odata.deltaLink"]).json()
    assert [c.get("subject") for c in changes["value"]] == ["E1 renamed", None]
    assert changes["value"][1] == {
        "@odata.type": "#microsoft.graph.event",
        "id": made[2]["id"],
        "@removed": {"reason": "deleted"},
    }
    rest = graph.get(changes["@odata.nextLink"]).json()
    assert [c["subject"] for c in rest["value"]] == ["E5"]
    assert "@odata.deltaLink" in rest

    services.delta_expire(mailbox=recruiter_ms)
    expired = graph.get(rest["@odata.deltaLink"])
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "SyncStateNotFound"


def test_events_filtered_by_extended_property_list_only_tagged_ones_in_pages(
    graph_for, recruiter_ms, colleague_ms
):
    graph = graph_for(recruiter_ms, CALENDAR)
    for n in range(3):
        graph.post("me/events", _interview(colleague_ms, f"cand-{n}", f"2026-12-0{n + 1}T09:00:00"))
    graph.post("me/events", _event("Dentist", "2026-12-01T15:00:00", "2026-12-01T16:00:00"))
    tagged = f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}')"
    first = graph.get("me/events", params={"$filter": tagged, "$top": "2"}).json()
    assert [e["subject"] for e in first["value"]] == ["Interview: Carl"] * 2
    second = graph.get(first["@odata.nextLink"]).json()
    assert len(second["value"]) == 1 and "@odata.nextLink" not in second

    one = graph.get(
        "me/events",
        params={
            "$filter": "singleValueExtendedProperties/any("
            f"ep: ep/id eq '{TAG}' and ep/value eq 'cand-1')",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{TAG}')",
        },
    ).json()["value"]
    assert [e["singleValueExtendedProperties"][0]["value"] for e in one] == ["cand-1"]
    selected = graph.get(
        "me/events", params={"$filter": tagged, "$select": "subject,attendees", "$top": "1"}
    ).json()["value"][0]
    assert set(selected) == {"@odata.etag", "id", "subject", "attendees"}
    assert graph.get("me/events", params={"$filter": "subject eq 'Dentist'"}).status_code == 400


def test_scopes_throttling_and_the_request_log(graph_for, recruiter_ms, colleague_ms):
    reader = graph_for(recruiter_ms, "Calendars.Read")
    refused = reader.post("me/events", _interview(colleague_ms))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert graph_for(recruiter_ms, "Mail.ReadWrite").get("me/events").status_code == 403
    assert reader.get("me/events").status_code == 200

    services.graph_limits_set(mailbox=recruiter_ms, per_ten_minutes=1, concurrent=None)
    writer = graph_for(recruiter_ms, CALENDAR)
    assert writer.post("me/events", _interview(colleague_ms)).status_code == 201
    limited = writer.get("me/events")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "ApplicationThrottled"
    assert 1 <= int(limited.headers["Retry-After"]) <= 600

    log = list(
        RequestLog.objects.filter(mailbox=recruiter_ms).values_list("operation", "status", "method")
    )
    assert ("graph.events.create", 403, "POST") in log
    assert ("graph.events.list", 403, "GET") in log
    assert ("graph.events.create", 201, "POST") in log
    assert ("graph.events.list", 429, "GET") in log


REDIRECT = "https://app.threadline.test/oauth/microsoft/callback"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
MAIL = ["https://graph.microsoft.com/Mail.ReadWrite", "https://graph.microsoft.com/Mail.Send"]


def _consent(app, mailbox, scopes: list[str]) -> dict:
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT, login_hint=mailbox.address)
    parts = urlsplit(flow["auth_uri"])
    accepted = Client().post(f"{parts.path}?{parts.query}", {"decision": "accept"})
    answer = {k: v[0] for k, v in parse_qs(urlsplit(accepted["Location"]).query).items()}
    return app.acquire_token_by_auth_code_flow(flow, answer)


def test_msal_consent_asked_again_with_calendars_grants_mail_and_calendars(ms_server, recruiter_ms):
    # The sandbox grants what a consent asks for (the product asks again for everything it
    # needs); Entra's cumulative consent is not modelled yet: two product tests rely on a
    # grant holding only what was asked (limited sync, re-authorization with fewer scopes).
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="sandbox-secret",
        authority=f"{ms_server.url}/sandbox/microsoft/organizations",
        instance_discovery=False,
    )
    first = _consent(app, recruiter_ms, MAIL)
    assert "Calendars.ReadWrite" not in first["scope"]
    events_url = f"{ms_server.url}/sandbox/microsoft/graph/v1.0/me/events"
    before = requests.get(
        events_url, headers={"Authorization": f"Bearer {first['access_token']}"}, timeout=10
    )
    assert before.status_code == 403

    more = _consent(app, recruiter_ms, [*MAIL, "https://graph.microsoft.com/Calendars.ReadWrite"])
    granted = set(more["scope"].split())
    assert "https://graph.microsoft.com/Calendars.ReadWrite" in granted
    assert set(MAIL) <= granted
    headers = {"Authorization": f"Bearer {more['access_token']}"}
    assert requests.get(events_url, headers=headers, timeout=10).status_code == 200
    mail = f"{ms_server.url}/sandbox/microsoft/graph/v1.0/me/messages"
    assert requests.get(mail, headers=headers, timeout=10).status_code == 200
