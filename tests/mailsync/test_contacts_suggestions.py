"""Suggestions where a user types a person, on both providers through the sandbox: the
user's contacts and other contacts (People API; Graph /me/contacts and /me/people),
merged with the candidates they may see, marked by source; asked only when the mailbox
policy allows Contacts, cached for a minute, and never stored unless the user picks one."""

import pytest
from django.urls import reverse

from candidates.models import Candidate, CandidateEmail
from mailsync.models import MailboxConnection
from sandbox import contacts as sandbox_contacts
from sandbox.models import Contact, Mailbox
from tests.mailsync.conftest import MailWorld

# What the provider logs for a contacts search, per provider.
CONTACT_OPERATIONS = {
    "google": ["people.people.searchContacts", "people.otherContacts.search"],
    "microsoft": ["graph.contacts.list", "graph.people.list"],
}


@pytest.fixture(autouse=True)
def _cold_google_search_cache():
    # The sandbox keeps Google's warm-up moments in process memory.
    sandbox_contacts.search_cache_reset()
    yield
    sandbox_contacts.search_cache_reset()


@pytest.fixture(autouse=True)
def _plain_headlines(team):
    # The factory's random job titles ("Radiographer") would match the searches here.
    Candidate.objects.filter(organisation=team.organisation).update(headline="")


def _address_book(world: MailWorld) -> None:
    box = world.recruiter_box
    sandbox_contacts.contact_add(
        mailbox=box,
        display_name="Adam Lee",
        emails=["adam@lee.test", "adam@home.test"],
        job_title="Staff Engineer",
        company="Acme",
    )
    sandbox_contacts.contact_add(
        mailbox=box,
        display_name="Adele Writer",
        emails=["adele@wrote.test"],
        kind=Contact.Kind.OTHER,
    )
    # Saved under another name, but the address is a candidate's: that candidate.
    sandbox_contacts.contact_add(
        mailbox=box, display_name="Ada V.", emails=[world.candidate_address]
    )


def _contact_calls(world: MailWorld):
    return world.log(operation__in=CONTACT_OPERATIONS[world.kit.name])


def _suggest(world: MailWorld, text: str, mode: str = "to"):
    field = {"to": "to", "candidate": "full_name"}[mode]
    response = world.client.get(
        reverse("mailsync:person_suggestions", args=[mode]), {field: text, "target": "id_to"}
    )
    assert response.status_code == 200
    return response


def _who(response) -> list[tuple[str, str]]:
    return [(row["person"].source, row["person"].name) for row in response.context["rows"]]


def test_team_member_gets_candidates_contacts_and_other_contacts_marked_by_source(world):
    world.connect(contacts=True)
    _address_book(world)

    response = _suggest(world, "ad")

    assert _who(response) == [
        ("candidate", "Ada Visible"),
        ("contacts", "Adam Lee"),
        ("other_contacts", "Adele Writer"),
    ]
    page = response.content.decode()
    for label in [">Candidate<", ">Contact<", ">Other contact<"]:
        assert label in page
    # The candidate's address is offered once, as the candidate's.
    assert page.count(f">{world.candidate_address}</button>") == 1
    assert "Ada V." not in page
    assert "Staff Engineer at Acme" in page
    # Only what a suggestion shows was read: partial responses, $select.
    calls = list(_contact_calls(world))
    assert calls and all(call.status == 200 for call in calls)
    if world.kit.name == "google":
        assert all(call.fields for call in calls)
    else:
        assert all(call.format == "select" for call in calls)


def test_limited_team_member_is_not_shown_candidates_they_may_not_see(world, client_for):
    limited = MailWorld(
        world.team,
        world.kit,
        client_for(world.team.limited),
        recruiter=world.team.limited,
        colleague_of=world,
    )
    limited.connect(contacts=True)
    sandbox_contacts.contact_add(
        mailbox=limited.recruiter_box, display_name="Gregor Friend", emails=["gregor@x.test"]
    )

    seen_by_limited = _suggest(limited, "gr")
    seen_by_team_member = world.client.get(
        reverse("mailsync:person_suggestions", args=["to"]), {"to": "gr"}
    )

    assert _who(seen_by_limited) == [("contacts", "Gregor Friend")]
    assert "Grace Hidden" not in seen_by_limited.content.decode()
    assert "grace@" not in seen_by_limited.content.decode()
    assert ("candidate", "Grace Hidden") in _who(seen_by_team_member)
    # By address too.
    assert "Grace Hidden" not in _suggest(limited, "grace@").content.decode()


@pytest.mark.parametrize("why", ["no_contacts_scopes", "company_off", "box_unticked"])
def test_contacts_are_not_asked_when_the_policy_says_no(world, why):
    _address_book(world)
    if why == "no_contacts_scopes":
        world.connect()
        reason = "Tick Contacts under Settings › My account"
    else:
        world.connect(contacts=True)
    if why == "company_off":
        world.team.organisation.contacts_enabled = False
        world.team.organisation.save(update_fields=["contacts_enabled"])
        reason = "Your company has turned Contacts off"
    if why == "box_unticked":
        world.save_my_account(email=True)
        assert not MailboxConnection.objects.get(user=world.recruiter).uses_contacts
        reason = "Tick Contacts under Settings › My account"

    response = _suggest(world, "ad")

    assert _who(response) == [("candidate", "Ada Visible")]
    assert reason in response.context["contacts_unavailable"]
    assert "Suggestions from your contacts are off" in response.content.decode()
    assert "Adam Lee" not in response.content.decode()
    assert not _contact_calls(world).exists()


def test_a_search_is_cached_per_user_for_a_minute(world, client_for):
    world.connect(contacts=True)
    _address_book(world)

    first = _suggest(world, "ad")
    calls_after_first = _contact_calls(world).count()
    again = _suggest(world, "  AD ")  # the same text, written differently

    assert _who(again) == _who(first)
    assert _contact_calls(world).count() == calls_after_first
    # Another text asks the provider again (without a second Google warm-up).
    _suggest(world, "adam")
    assert _contact_calls(world).count() == calls_after_first + 2
    if world.kit.name == "google":
        assert calls_after_first == 4  # a warm-up and a search of each source
        assert world.log(path__contains="query=&").count() == 2


def test_contacts_are_stored_only_when_the_user_creates_the_candidate(world):
    world.connect(contacts=True)
    _address_book(world)
    candidates_before = Candidate.objects.count()

    suggestions = _suggest(world, "adam", mode="candidate")
    (row,) = [r for r in suggestions.context["rows"] if not r["person"].is_candidate]
    page = suggestions.content.decode()
    assert "Create candidate from contact" in page
    assert 'form="contact-pick"' in page

    filled = world.client.post(reverse("candidates:create"), {"from_contact": row["prefill"]})

    assert filled.status_code == 200
    form = filled.context["form"]
    assert not form.is_bound
    assert form.initial["full_name"] == "Adam Lee"
    assert form.initial["headline"] == "Staff Engineer at Acme"
    assert form.initial["email"] == "adam@lee.test"
    assert form.initial["more_emails"] == "adam@home.test"
    assert 'value="Staff Engineer at Acme"' in filled.content.decode()
    assert "Filled in from your contact Adam Lee" in filled.content.decode()
    # Searched, suggested, picked: still nothing stored.
    assert Candidate.objects.count() == candidates_before
    assert not CandidateEmail.objects.filter(address__in=["adam@lee.test", "adam@home.test"])

    created = world.client.post(
        reverse("candidates:create"),
        {
            "full_name": form.initial["full_name"],
            "headline": form.initial["headline"],
            "email": form.initial["email"],
            "more_emails": form.initial["more_emails"],
        },
    )

    assert created.status_code == 302
    adam = Candidate.objects.get(full_name="Adam Lee")
    assert adam.headline == "Staff Engineer at Acme"
    assert sorted(adam.emails.values_list("address", "is_primary")) == [
        ("adam@home.test", False),
        ("adam@lee.test", True),
    ]


def test_a_revoked_grant_marks_the_connection_and_candidates_are_still_suggested(world):
    world.connect(contacts=True)
    _address_book(world)
    world.revoke_grant()

    response = _suggest(world, "ad")

    assert _who(response) == [("candidate", "Ada Visible")]
    assert "needs re-authorization" in response.context["contacts_unavailable"]
    connection = MailboxConnection.objects.get(user=world.recruiter)
    assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION


def test_attach_page_offers_contacts_for_a_new_candidate(world, client_for):
    world.connect(contacts=True)
    _address_book(world)
    url = reverse("mailsync:mailbox_thread_candidates")

    page = world.client.get(url, {"candidate_search": "ad"}).content.decode()

    assert 'name="candidate"' in page and "Ada Visible" in page
    assert "Create candidate from contact" in page
    assert "&quot;#id_full_name&quot;: &quot;Adam Lee&quot;" in page
    assert "&quot;#id_email&quot;: &quot;adam@lee.test&quot;" in page
    assert ">Other contact<" in page


def test_compose_to_asks_for_suggestions_as_the_user_types(world):
    world.connect(contacts=True)
    page = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
    text = page.content.decode()
    assert reverse("mailsync:person_suggestions", args=["to"]) in text
    assert 'hx-trigger="input changed delay:300ms"' in text
    assert 'data-suggestions-for="id_to"' in text


def test_a_throttled_search_still_suggests_candidates_and_is_not_cached(world):
    world.connect(contacts=True)
    _address_book(world)
    Mailbox.objects.filter(pk=world.recruiter_box.pk).update(
        quota_per_minute=1, requests_per_ten_minutes=1
    )

    throttled = _suggest(world, "ad")

    assert _who(throttled) == [("candidate", "Ada Visible")]
    assert "could not be searched just now" in throttled.context["contacts_unavailable"]
    assert _contact_calls(world).filter(status=429).exists()
    connection = MailboxConnection.objects.get(user=world.recruiter)
    assert connection.state == MailboxConnection.State.CONNECTED
    # Once the provider answers again, the same text asks it again.
    Mailbox.objects.filter(pk=world.recruiter_box.pk).update(
        quota_per_minute=10_000, requests_per_ten_minutes=10_000
    )
    assert ("contacts", "Adam Lee") in _who(_suggest(world, "ad"))


def test_an_unknown_kind_of_field_is_not_found(team, client_for):
    url = reverse("mailsync:person_suggestions", args=["bcc"])
    assert client_for(team.team_member).get(url, {"bcc": "ad"}).status_code == 404
