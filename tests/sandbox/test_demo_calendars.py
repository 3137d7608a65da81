"""`seed_demo` gives the demo users busy calendars and address books in their sandbox
mailboxes, on both demo organisations, once: seen through Google's freeBusy and People
API and Graph's getSchedule and contacts, as the product will read them."""

import io
from datetime import UTC, date, datetime, timedelta

import requests
from django.core.management import call_command
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from demo.seeding import DEMO_USERS
from sandbox import tokens
from sandbox.demo import DEMO_PROPERTY, seed_calendars, seed_contacts
from sandbox.google import scopes
from sandbox.models import CalendarEvent, Contact, Mailbox
from tests.sandbox.conftest import GraphClient

ACME = ["superadmin@demo.test", "admin@demo.test", "recruiter@demo.test", "limited@demo.test"]
CONTOSO = ["superadmin@contoso.test", "recruiter@contoso.test"]


def _counts() -> tuple[int, int]:
    return CalendarEvent.objects.count(), Contact.objects.count()


def _token(address: str, *wanted: str) -> str:
    mailbox = Mailbox.objects.get(address=address)
    return tokens.mailbox_grant_token(mailbox=mailbox, scopes=list(wanted), client_id="t").token


def test_seed_demo_fills_calendars_and_contacts_once_on_both_providers(
    live_server, ms_server, google_root
):
    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    after_first = _counts()
    call_command("seed_demo", stdout=second)
    assert _counts() == after_first
    assert "Sandbox calendars: 0 events added; sandbox contacts: 0 added" in second.getvalue()
    assert "Sandbox calendars: 0 events" not in first.getvalue()

    for address in ACME + CONTOSO:
        mailbox = Mailbox.objects.get(address=address)
        owned = CalendarEvent.objects.filter(mailbox=mailbox)
        assert owned.count() >= 8, address  # two working weeks of meetings and invitations
        assert mailbox.provider == ("microsoft" if address in CONTOSO else "google")
        people = Contact.objects.filter(mailbox=mailbox)
        assert people.filter(kind=Contact.Kind.OTHER).exists()
        looks_like_candidates = people.exclude(job_title="").exclude(company="")
        assert looks_like_candidates.count() >= 3, address

    # Google: the recruiter is busy during the working week, and never on a weekend.
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "timeMin": now.isoformat().replace("+00:00", "Z"),
        "timeMax": (now + timedelta(days=14)).isoformat().replace("+00:00", "Z"),
        "items": [{"id": "recruiter@demo.test"}, {"id": "admin@demo.test"}],
    }
    calendar = build(
        "calendar",
        "v3",
        credentials=Credentials(_token("recruiter@demo.test", scopes.CALENDAR_FREEBUSY)),
        static_discovery=True,
        client_options={"api_endpoint": f"{google_root}calendar/v3/"},
    )
    busy = calendar.freebusy().query(body=window).execute()["calendars"]
    for address in ("recruiter@demo.test", "admin@demo.test"):
        periods = busy[address]["busy"]
        assert len(periods) >= 8, address
        for period in periods:
            start = datetime.fromisoformat(period["start"])
            assert start.weekday() < 5 and 6 <= start.hour < 18, period
    # The team meeting has a Meet link and every colleague is invited.
    events = (
        build(
            "calendar",
            "v3",
            credentials=Credentials(_token("recruiter@demo.test", scopes.CALENDAR_EVENTS)),
            static_discovery=True,
            client_options={"api_endpoint": f"{google_root}calendar/v3/"},
        )
        .events()
        .list(calendarId="primary", q="Weekly team meeting", singleEvents=True)
        .execute()["items"]
    )
    team = next(e for e in events if e["summary"] == "Weekly team meeting")
    assert team["hangoutLink"].startswith("https://meet.google.com/")
    # The whole organisation is invited, the two users of demo/sync_health.py included.
    assert {a["email"] for a in team["attendees"]} == {address for address, _, _ in DEMO_USERS}

    # The People API finds a candidate-like contact after the documented warm-up.
    people_token = _token("recruiter@demo.test", scopes.CONTACTS_READONLY)
    search = f"{google_root}v1/people:searchContacts"
    headers = {"Authorization": f"Bearer {people_token}"}
    for query in ["", "engineer"]:
        found = requests.get(
            search,
            params={"query": query, "readMask": "names,organizations"},
            headers=headers,
            timeout=10,
        ).json()
    assert found.get("results"), found

    # Microsoft: Casey's colleague sees Casey busy through getSchedule; contacts are there.
    graph_root = f"{ms_server.url}/sandbox/microsoft/graph/v1.0"
    graph = GraphClient(
        graph_root, _token("superadmin@contoso.test", "Calendars.ReadWrite", "Contacts.Read")
    )
    schedule = graph.post(
        "me/calendar/getSchedule",
        {
            "schedules": ["recruiter@contoso.test"],
            "startTime": {"dateTime": now.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "endTime": {
                "dateTime": (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
        },
    )
    assert schedule.status_code == 200, schedule.text
    items = schedule.json()["value"][0]["scheduleItems"]
    assert len(items) >= 4 and {i["status"] for i in items} <= {"busy", "tentative"}
    teams = graph.get("me/events", params={"$top": "50"}).json()["value"]
    assert any((e.get("onlineMeeting") or {}).get("joinUrl") for e in teams)
    names = {c["displayName"] for c in graph.get("me/contacts").json()["value"]}
    assert "Casey Novak" in names and len(names) >= 5


def test_seeding_a_week_later_adds_only_the_days_not_yet_seeded(transactional_db):
    from sandbox import services

    for address, name in [("a@demo.test", "Ann A"), ("b@demo.test", "Ben B")]:
        services.mailbox_create(address=address, display_name=name)
    monday = date(2026, 11, 30)
    added = seed_calendars(
        users=["a@demo.test", "b@demo.test"], time_zone="Europe/Berlin", today=monday
    )
    assert (
        seed_calendars(
            users=["a@demo.test", "b@demo.test"], time_zone="Europe/Berlin", today=monday
        )
        == 0
    )
    later = seed_calendars(
        users=["a@demo.test", "b@demo.test"], time_zone="Europe/Berlin", today=monday + timedelta(7)
    )
    assert later * 2 == added  # the second week was there; the third is new
    organised = CalendarEvent.objects.filter(organizer_email__in=["a@demo.test", "b@demo.test"])
    slots = [e.private_properties[DEMO_PROPERTY] for e in organised if e.private_properties]
    assert len(slots) == len(set(slots)) == added + later
    # Berlin working hours: Monday's team meeting at 09:30 CET is 08:30 UTC.
    first = CalendarEvent.objects.filter(mailbox__address="a@demo.test").order_by("start")[0]
    assert first.start == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)

    people = seed_contacts(users=["a@demo.test", "b@demo.test"])
    assert people > 0 and seed_contacts(users=["a@demo.test", "b@demo.test"]) == 0
