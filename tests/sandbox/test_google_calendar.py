"""Google Calendar API v3 through googleapiclient's own Calendar client (the discovery
document it ships) against the live sandbox: events with Meet links and attendee copies,
reschedule and cancel, private extended properties with sync tokens, freeBusy across time
zones, scopes, quota, partial responses, the request log and incremental consent."""

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import googleapiclient
import pytest
from django.core.management import call_command
from django.test import Client
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build, build_from_document
from googleapiclient.errors import HttpError

from sandbox import services
from sandbox.google import calendar_views, fields, scopes
from sandbox.google.calendar_schemas import CALENDAR_SCHEMAS
from sandbox.models import CalendarEvent, RequestLog

CALENDAR_DOC = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
)
CALENDAR_SCOPES = [scopes.CALENDAR_EVENTS, scopes.CALENDAR_FREEBUSY]
TAG = "threadlineInterview"


def _error(excinfo) -> dict:
    return json.loads(excinfo.value.content)["error"]


@pytest.fixture(scope="module")
def calendar_document() -> dict:
    return json.loads(CALENDAR_DOC.read_text())


@pytest.fixture
def calendar_for(google_root, token_for):
    """calendar_for(mailbox, *scopes) → the real Calendar client, its root the sandbox's."""

    def make(mailbox, *wanted: str):
        token = token_for(mailbox, *(wanted or CALENDAR_SCOPES))
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


def _interview(*attendees: str, tag: str = "cand-1", start: str = "2026-03-09T09:00:00") -> dict:
    return {
        "summary": "Interview",
        "start": {"dateTime": start, "timeZone": "America/New_York"},
        "end": {"dateTime": start.replace("T09:", "T10:"), "timeZone": "America/New_York"},
        "attendees": [{"email": address} for address in attendees],
        "extendedProperties": {"private": {TAG: tag}},
        "conferenceData": {
            "createRequest": {
                "requestId": f"req-{tag}",
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        },
    }


def _insert(service, body: dict, **params):
    params.setdefault("conferenceDataVersion", 1)
    params.setdefault("sendUpdates", "all")
    return service.events().insert(calendarId="primary", body=body, **params).execute()


def _copy_of(mailbox, ical_uid: str) -> CalendarEvent:
    return CalendarEvent.objects.get(mailbox=mailbox, ical_uid=ical_uid)


def test_insert_creates_a_meet_link_and_copies_for_sandbox_attendees(
    recruiter, candidate, colleague, calendar_for
):
    organiser = calendar_for(recruiter)
    event = _insert(
        organiser, _interview(candidate.address, colleague.address, "stranger@elsewhere.test")
    )

    assert re.fullmatch(
        r"https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}", event["hangoutLink"]
    )
    conference = event["conferenceData"]
    assert conference["createRequest"]["status"] == {"statusCode": "success"}
    assert conference["createRequest"]["requestId"] == "req-cand-1"
    assert conference["conferenceSolution"]["key"] == {"type": "hangoutsMeet"}
    assert conference["entryPoints"][0]["entryPointType"] == "video"
    assert conference["entryPoints"][0]["uri"] == event["hangoutLink"]
    assert event["start"] == {
        "dateTime": "2026-03-09T09:00:00-04:00",
        "timeZone": "America/New_York",
    }
    assert event["organizer"] == {"email": recruiter.address, "self": True}
    assert event["extendedProperties"] == {"private": {TAG: "cand-1"}}
    assert event["sequence"] == 0
    assert {a["email"]: a["responseStatus"] for a in event["attendees"]} == {
        candidate.address: "needsAction",
        colleague.address: "needsAction",
        "stranger@elsewhere.test": "needsAction",
    }
    assert organiser.events().get(calendarId="primary", eventId=event["id"]).execute() == event

    # Each sandbox attendee holds their own copy: same iCalUID, same link, no private tag.
    seen = calendar_for(candidate).events().list(calendarId=candidate.address).execute()
    (copy,) = seen["items"]
    assert copy["id"] != event["id"]
    assert copy["iCalUID"] == event["iCalUID"]
    assert copy["hangoutLink"] == event["hangoutLink"]
    assert copy["organizer"] == {"email": recruiter.address}
    assert "extendedProperties" not in copy
    mine = next(a for a in copy["attendees"] if a["email"] == candidate.address)
    assert mine == {"email": candidate.address, "responseStatus": "needsAction", "self": True}
    assert _copy_of(colleague, event["iCalUID"]).status == "confirmed"
    assert CalendarEvent.objects.count() == 3


def test_without_conference_version_or_notifications_there_is_no_link_and_no_copy(
    recruiter, candidate, calendar_for
):
    with pytest.raises(HttpError) as recurring:
        _insert(calendar_for(recruiter), {**_interview(), "recurrence": ["RRULE:FREQ=DAILY"]})
    assert recurring.value.status_code == 400
    event = _insert(
        calendar_for(recruiter),
        _interview(candidate.address),
        conferenceDataVersion=0,
        sendUpdates="none",
    )
    assert "hangoutLink" not in event and "conferenceData" not in event
    assert not CalendarEvent.objects.filter(mailbox=candidate).exists()


def test_reschedule_and_cancel_reach_the_attendee_copies(recruiter, candidate, calendar_for):
    organiser = calendar_for(recruiter)
    event = _insert(organiser, _interview(candidate.address))

    moved = (
        organiser.events()
        .patch(
            calendarId="primary",
            eventId=event["id"],
            sendUpdates="all",
            body={
                "start": {"dateTime": "2026-03-10T14:00:00Z"},
                "end": {"dateTime": "2026-03-10T15:00:00Z"},
            },
        )
        .execute()
    )
    assert moved["sequence"] == 1
    assert moved["start"]["dateTime"] == "2026-03-10T14:00:00Z"
    assert moved["hangoutLink"] == event["hangoutLink"]  # the link survives a reschedule
    assert moved["extendedProperties"] == event["extendedProperties"]
    copy = _copy_of(candidate, event["iCalUID"])
    assert copy.start == datetime(2026, 3, 10, 14, tzinfo=UTC) and copy.sequence == 1

    # A change sent to nobody stays in the organiser's calendar.
    organiser.events().patch(
        calendarId="primary", eventId=event["id"], sendUpdates="none", body={"summary": "Chat"}
    ).execute()
    assert _copy_of(candidate, event["iCalUID"]).summary == "Interview"

    organiser.events().delete(
        calendarId="primary", eventId=event["id"], sendUpdates="all"
    ).execute()
    gone = organiser.events().get(calendarId="primary", eventId=event["id"]).execute()
    assert gone["status"] == "cancelled"
    assert _copy_of(candidate, event["iCalUID"]).status == "cancelled"
    with pytest.raises(HttpError) as again:
        organiser.events().delete(calendarId="primary", eventId=event["id"]).execute()
    assert again.value.status_code == 410
    assert _error(again)["errors"][0]["reason"] == "deleted"


def test_removed_attendee_loses_the_copy(recruiter, candidate, colleague, calendar_for):
    organiser = calendar_for(recruiter)
    event = _insert(organiser, _interview(candidate.address, colleague.address))
    organiser.events().patch(
        calendarId="primary",
        eventId=event["id"],
        sendUpdates="all",
        body={"attendees": [{"email": candidate.address}]},
    ).execute()
    assert _copy_of(colleague, event["iCalUID"]).status == "cancelled"
    assert _copy_of(candidate, event["iCalUID"]).status == "confirmed"


def test_list_by_private_property_pages_and_syncs_incrementally(recruiter, candidate, calendar_for):
    organiser = calendar_for(recruiter)
    tagged = [_insert(organiser, _interview(candidate.address, tag=f"c{n}")) for n in range(3)]
    _insert(organiser, {**_interview(candidate.address), "extendedProperties": {}})
    events = organiser.events()

    # Full sync of the tagged events only, two to a page; the token comes on the last page.
    first = events.list(
        calendarId="primary", privateExtendedProperty=f"{TAG}=c1", maxResults=2
    ).execute()
    assert [e["id"] for e in first["items"]] == [tagged[1]["id"]]
    items, page_token, sync_token = [], None, None
    while True:
        page = events.list(
            calendarId="primary",
            privateExtendedProperty=[f"{TAG}=c0", f"{TAG}=c0"],
            maxResults=1,
            pageToken=page_token,
        ).execute()
        items += page["items"]
        page_token = page.get("nextPageToken")
        if not page_token:
            sync_token = page["nextSyncToken"]
            break
        assert "nextSyncToken" not in page
    assert [e["id"] for e in items] == [tagged[0]["id"]]

    # Nothing changed: an empty incremental answer and a token as good as the last.
    nothing = events.list(calendarId="primary", syncToken=sync_token).execute()
    assert nothing["items"] == []

    # The candidate accepts one and the organiser cancels another: both come back, and
    # the cancelled one carries no more than its id and status.
    services.calendar_event_respond(
        mailbox=candidate, ical_uid=tagged[1]["iCalUID"], response="accepted"
    )
    events.delete(calendarId="primary", eventId=tagged[2]["id"]).execute()
    changed = events.list(calendarId="primary", syncToken=nothing["nextSyncToken"]).execute()
    by_id = {e["id"]: e for e in changed["items"]}
    assert set(by_id) == {tagged[1]["id"], tagged[2]["id"]}
    accepted = {a["email"]: a["responseStatus"] for a in by_id[tagged[1]["id"]]["attendees"]}
    assert accepted[candidate.address] == "accepted"
    assert by_id[tagged[2]["id"]] == {
        "kind": "calendar#event",
        "etag": by_id[tagged[2]["id"]]["etag"],
        "id": tagged[2]["id"],
        "status": "cancelled",
    }
    # The candidate's own copy says so too.
    assert _copy_of(candidate, tagged[1]["iCalUID"]).attendees[0]["responseStatus"] == "accepted"

    # Google refuses filters alongside a sync token.
    with pytest.raises(HttpError) as mixed:
        events.list(
            calendarId="primary", syncToken=sync_token, privateExtendedProperty=f"{TAG}=c0"
        ).execute()
    assert mixed.value.status_code == 400

    # Deleted ones show only when asked; bounds compare end after timeMin, start before timeMax.
    listed = events.list(calendarId="primary").execute()["items"]
    assert tagged[2]["id"] not in {e["id"] for e in listed}
    with_deleted = events.list(calendarId="primary", showDeleted=True).execute()["items"]
    assert tagged[2]["id"] in {e["id"] for e in with_deleted}
    window = events.list(
        calendarId="primary", timeMin="2026-03-09T13:30:00Z", timeMax="2026-03-09T14:00:00Z"
    ).execute()["items"]
    assert len(window) == 3
    assert (
        events.list(calendarId="primary", timeMin="2026-03-09T14:00:00Z").execute()["items"] == []
    )
    assert events.list(calendarId="primary", q="interview").execute()["items"]
    assert events.list(calendarId="primary", q="lunch").execute()["items"] == []
    shared = events.list(calendarId="primary", sharedExtendedProperty=f"{TAG}=c0").execute()
    assert shared["items"] == []
    # Tagged changes without a sync token: updatedMin brings deletions along.
    recent = events.list(
        calendarId="primary",
        privateExtendedProperty=f"{TAG}=c2",
        updatedMin=tagged[2]["updated"],
    ).execute()["items"]
    assert [(e["id"], e["status"]) for e in recent] == [(tagged[2]["id"], "cancelled")]

    # An expired or foreign token asks for a full sync.
    services.history_expire(mailbox=recruiter)
    for stale in (sync_token, "not-a-token"):
        with pytest.raises(HttpError) as expired:
            events.list(calendarId="primary", syncToken=stale).execute()
        assert expired.value.status_code == 410
        assert _error(expired)["errors"][0]["reason"] == "fullSyncRequired"


def test_another_users_calendar_is_not_found(recruiter, colleague, calendar_for):
    with pytest.raises(HttpError) as excinfo:
        calendar_for(recruiter).events().list(calendarId=colleague.address).execute()
    assert excinfo.value.status_code == 404
    assert _error(excinfo)["errors"][0]["reason"] == "notFound"


def test_freebusy_merges_busy_time_across_time_zones(
    recruiter, candidate, colleague, make_mailbox, calendar_for
):
    own = calendar_for(colleague).events()
    # 09:00-10:00 New York on the Monday after the US clock change (EDT, UTC-4).
    _insert(calendar_for(colleague), _interview(tag="ny"), sendUpdates="none")
    # 13:30-15:30 London (still GMT) overlaps it: merged into 13:00-15:30 UTC.
    own.insert(
        calendarId="primary",
        body={
            "start": {"dateTime": "2026-03-09T13:30:00+00:00", "timeZone": "Europe/London"},
            "end": {"dateTime": "2026-03-09T15:30:00", "timeZone": "Europe/London"},
        },
    ).execute()
    # Free, cancelled and declined events do not block.
    own.insert(
        calendarId="primary",
        body={
            "start": {"dateTime": "2026-03-09T17:00:00Z"},
            "end": {"dateTime": "2026-03-09T18:00:00Z"},
            "transparency": "transparent",
        },
    ).execute()
    dropped = own.insert(
        calendarId="primary",
        body={
            "start": {"dateTime": "2026-03-09T19:00:00Z"},
            "end": {"dateTime": "2026-03-09T20:00:00Z"},
        },
    ).execute()
    own.delete(calendarId="primary", eventId=dropped["id"]).execute()
    invitation = _insert(
        calendar_for(recruiter),
        {
            "start": {"dateTime": "2026-03-09T21:00:00Z"},
            "end": {"dateTime": "2026-03-09T22:00:00Z"},
            "attendees": [{"email": colleague.address}],
        },
    )
    services.calendar_event_respond(
        mailbox=colleague, ical_uid=invitation["iCalUID"], response="declined"
    )
    # An event outside the window is clipped away; one across its end is clipped to it.
    own.insert(
        calendarId="primary",
        body={
            "start": {"dateTime": "2026-03-09T23:30:00Z"},
            "end": {"dateTime": "2026-03-10T01:00:00Z"},
        },
    ).execute()
    make_mailbox("mallory@agency.test")  # same domain, empty calendar

    answer = (
        calendar_for(recruiter)
        .freebusy()
        .query(
            body={
                "timeMin": "2026-03-09T00:00:00Z",
                "timeMax": "2026-03-10T00:00:00Z",
                "timeZone": "Asia/Tokyo",
                "items": [
                    {"id": colleague.address},
                    {"id": "primary"},
                    {"id": "mallory@agency.test"},
                    {"id": candidate.address},  # another organisation
                    {"id": "nobody@agency.test"},
                ],
            }
        )
        .execute()
    )
    assert answer["kind"] == "calendar#freeBusy"
    assert answer["timeMin"] == "2026-03-09T09:00:00+09:00"
    calendars = answer["calendars"]
    assert calendars[colleague.address] == {
        "busy": [
            {"start": "2026-03-09T22:00:00+09:00", "end": "2026-03-10T00:30:00+09:00"},
            {"start": "2026-03-10T08:30:00+09:00", "end": "2026-03-10T09:00:00+09:00"},
        ]
    }
    # The organiser is busy at the invitation the colleague declined.
    assert calendars["primary"] == {
        "busy": [{"start": "2026-03-10T06:00:00+09:00", "end": "2026-03-10T07:00:00+09:00"}]
    }
    assert calendars["mallory@agency.test"] == {"busy": []}
    not_found = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
    assert calendars[candidate.address] == not_found
    assert calendars["nobody@agency.test"] == not_found


def test_scopes_are_enforced_with_googles_403(recruiter, calendar_for):
    period = {"timeMin": "2026-03-09T00:00:00Z", "timeMax": "2026-03-10T00:00:00Z", "items": []}
    mail_only = calendar_for(recruiter, scopes.MODIFY)
    with pytest.raises(HttpError) as excinfo:
        mail_only.events().list(calendarId="primary").execute()
    error = _error(excinfo)
    assert excinfo.value.status_code == 403
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert error["message"] == "Request had insufficient authentication scopes."
    assert scopes.CALENDAR_EVENTS in excinfo.value.resp["www-authenticate"]

    # calendar.events writes events but does not read free/busy; calendar.freebusy the reverse.
    events_only = calendar_for(recruiter, scopes.CALENDAR_EVENTS)
    _insert(events_only, _interview())
    with pytest.raises(HttpError) as excinfo:
        events_only.freebusy().query(body=period).execute()
    assert excinfo.value.status_code == 403
    freebusy_only = calendar_for(recruiter, scopes.CALENDAR_FREEBUSY)
    assert freebusy_only.freebusy().query(body=period).execute()["calendars"] == {}
    with pytest.raises(HttpError) as excinfo:
        _insert(freebusy_only, _interview())
    assert excinfo.value.status_code == 403
    assert CalendarEvent.objects.count() == 1


def test_calls_are_logged_and_charged_one_request_each(recruiter, calendar_for):
    service = calendar_for(recruiter)
    event = _insert(service, _interview())
    service.events().list(calendarId="primary", privateExtendedProperty=f"{TAG}=cand-1").execute()
    log = list(RequestLog.objects.filter(operation__startswith="calendar."))
    assert [(e.method, e.operation, e.units, e.status) for e in log] == [
        ("POST", "calendar.events.insert", 1, 200),
        ("GET", "calendar.events.list", 1, 200),
    ]
    assert log[0].mailbox == recruiter
    assert log[0].scopes.split() == CALENDAR_SCOPES
    assert log[1].path.startswith("/sandbox/google/calendar/v3/calendars/primary/events?")
    assert "privateExtendedProperty=threadlineInterview%3Dcand-1" in log[1].path

    # Setting a limit starts a fresh window: two calls fit, the third is refused.
    services.quota_set(mailbox=recruiter, per_minute=2)
    for _ in range(2):
        service.events().get(calendarId="primary", eventId=event["id"]).execute()
    with pytest.raises(HttpError) as excinfo:
        service.events().get(calendarId="primary", eventId=event["id"]).execute()
    assert excinfo.value.status_code == 403
    assert _error(excinfo)["errors"][0] == {
        "message": "Rate Limit Exceeded",
        "domain": "usageLimits",
        "reason": "userRateLimitExceeded",
    }
    assert RequestLog.objects.last().status == 403


def test_partial_responses_follow_the_event_schemas(recruiter, calendar_for):
    service = calendar_for(recruiter)
    _insert(service, _interview())
    answer = (
        service.events()
        .list(calendarId="primary", fields="items(id,hangoutLink,start/dateTime),nextSyncToken")
        .execute()
    )
    (item,) = answer["items"]
    assert set(answer) == {"items", "nextSyncToken"}
    assert set(item) == {"id", "hangoutLink", "start"}
    assert set(item["start"]) == {"dateTime"}
    with pytest.raises(HttpError) as excinfo:
        service.events().list(calendarId="primary", fields="items(meetLink)").execute()
    assert excinfo.value.status_code == 400


def test_emulation_agrees_with_the_discovery_document(calendar_document, recruiter, candidate):
    methods = {
        m["id"]: m
        for resource in calendar_document["resources"].values()
        for m in resource.get("methods", {}).values()
    }
    calendar_operations = [op for op in scopes.OPERATION_SCOPES if op.startswith("calendar.")]
    assert len(calendar_operations) == 6
    for operation in calendar_operations:
        assert set(scopes.OPERATION_SCOPES[operation]) == set(methods[operation]["scopes"])
        response = methods[operation].get("response", {}).get("$ref")
        assert fields.RESPONSE_SCHEMAS.get(operation) == response, operation
    for scope in calendar_document["auth"]["oauth2"]["scopes"]:
        if scope in scopes.DESCRIPTIONS:
            assert (
                scopes.DESCRIPTIONS[scope]
                == (calendar_document["auth"]["oauth2"]["scopes"][scope]["description"])
            )

    documented = calendar_document["schemas"]

    def properties(name: str) -> dict:
        owner, _, inline = name.partition(".")
        found = documented[owner]["properties"]
        for step in inline.split(".") if inline else []:
            found = (found[step].get("items") or found[step])["properties"]
        return found

    for name, fields_of in CALENDAR_SCHEMAS.items():
        assert set(fields_of) == set(properties(name)), name

    # Every field the sandbox answers exists in the schema it claims.
    event = services.calendar_event_create(
        mailbox=recruiter,
        fields={
            "summary": "x",
            "start": datetime(2026, 1, 1, 9, tzinfo=UTC),
            "end": datetime(2026, 1, 1, 10, tzinfo=UTC),
            "attendees": [{"email": candidate.address, "responseStatus": "needsAction"}],
            "private_properties": {"a": "b"},
            "conference": {
                "kind": "hangoutsMeet",
                "id": "abc-defg-hij",
                "url": "u",
                "requestId": "r",
            },
            "transparent": True,
        },
    )

    def fits(value, schema: str) -> None:
        allowed = CALENDAR_SCHEMAS[schema]
        for key, inner in value.items():
            assert key in allowed, f"{schema}.{key}"
            nested = allowed[key]
            for element in inner if isinstance(inner, list) else [inner]:
                if nested and isinstance(element, dict):
                    fits(element, nested)

    fits(calendar_views.event_resource(event, recruiter), "Event")


def test_incremental_consent_adds_calendar_scopes_to_the_mail_grant(
    live_server, recruiter, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    config = {
        "web": {
            "client_id": "threadline-test.apps.googleusercontent.com",
            "client_secret": "shh",
            "auth_uri": f"{live_server.url}/sandbox/google/o/oauth2/auth",
            "token_uri": f"{live_server.url}/sandbox/google/token",
        }
    }
    redirect = "http://localhost:8765/oauth/callback"

    def consent(wanted: list[str], include: str) -> tuple[str, str]:
        flow = Flow.from_client_config(config, scopes=wanted, redirect_uri=redirect)
        url, _ = flow.authorization_url(
            access_type="offline", include_granted_scopes=include, login_hint=recruiter.address
        )
        parts = urlsplit(url)
        path = f"{parts.path}?{parts.query}"
        page = Client().get(path).content.decode()
        answer = Client().post(path, {"address": recruiter.address, "decision": "allow"})
        flow.fetch_token(code=parse_qs(urlsplit(answer["Location"]).query)["code"][0])
        return page, flow.oauth2session.token["scope"]

    _, first = consent([scopes.MODIFY], "false")
    assert first == [scopes.MODIFY]
    page, second = consent(CALENDAR_SCOPES, "true")
    assert set(second) == {scopes.MODIFY, *CALENDAR_SCOPES}
    assert "View and edit events on all your calendars" in page
    assert "View your availability in your calendars" in page
    assert "You already allowed it to" in page
    # Without include_granted_scopes the new grant holds only what it asked for.
    _, alone = consent(CALENDAR_SCOPES, "false")
    assert set(alone) == set(CALENDAR_SCOPES)


def test_the_token_command_issues_calendar_scopes_given_as_urls(recruiter, google_root):
    out = io.StringIO()
    call_command(
        "sandbox",
        "token",
        recruiter.address,
        *(f"--scope={s}" for s in CALENDAR_SCOPES),
        stdout=out,
    )
    service = build(
        "calendar",
        "v3",
        credentials=Credentials(out.getvalue().strip()),
        static_discovery=True,
        client_options={"api_endpoint": f"{google_root}calendar/v3/"},
    )
    period = {"timeMin": "2026-03-09T00:00:00Z", "timeMax": "2026-03-10T00:00:00Z"}
    answer = service.freebusy().query(body={**period, "items": [{"id": "primary"}]}).execute()
    assert answer["calendars"] == {"primary": {"busy": []}}
    assert service.events().list(calendarId="primary").execute()["items"] == []


def test_a_batch_through_the_patched_document_reaches_the_sandbox(
    recruiter, calendar_document, google_root, token_for, calendar_for
):
    """Batches go to the document's rootUrl whatever api_endpoint says, so a client that
    batches replaces rootUrl in the document, as mailsync's Gmail provider does."""
    events = [_insert(calendar_for(recruiter), _interview(tag=f"b{n}")) for n in range(2)]
    document = dict(calendar_document, rootUrl=google_root, mtlsRootUrl=google_root)
    service = build_from_document(
        document, credentials=Credentials(token_for(recruiter, *CALENDAR_SCOPES))
    )
    answers: dict[str, object] = {}
    batch = service.new_batch_http_request(
        callback=lambda rid, resp, exc: answers.update({rid: resp or exc})
    )
    for event in events:
        batch.add(
            service.events().get(calendarId="primary", eventId=event["id"]), request_id=event["id"]
        )
    batch.add(service.events().get(calendarId="primary", eventId="missing00"), request_id="missing")
    batch.execute()
    assert [answers[e["id"]]["iCalUID"] for e in events] == [e["iCalUID"] for e in events]
    assert isinstance(answers["missing"], HttpError) and answers["missing"].status_code == 404
    inner = RequestLog.objects.filter(operation="calendar.events.get")
    assert inner.count() == 3 and len({e.batch_id for e in inner}) == 1
    assert RequestLog.objects.get(operation="batch").path == "/sandbox/google/batch/calendar/v3"


def test_only_an_invited_user_answers_and_only_with_a_response(
    recruiter, candidate, colleague, calendar_for
):
    event = _insert(calendar_for(recruiter), _interview(candidate.address))
    for mailbox, response in [
        (candidate, "maybe"),
        (colleague, "accepted"),  # not invited
        (recruiter, "declined"),  # the organiser answers nothing
    ]:
        with pytest.raises(services.SandboxError):
            services.calendar_event_respond(
                mailbox=mailbox, ical_uid=event["iCalUID"], response=response
            )
    copy = services.calendar_event_respond(
        mailbox=candidate, ical_uid=event["iCalUID"], response="tentative"
    )
    assert copy.mailbox == candidate and copy.attendees[0]["responseStatus"] == "tentative"
    with pytest.raises(HttpError) as excinfo:
        calendar_for(recruiter).events().list(
            calendarId="primary", pageToken="eyJvIjoieCJ9"
        ).execute()
    assert excinfo.value.status_code == 400
