"""Contacts and people in the sandbox, over real HTTP: Google's People API through
google-api-python-client built from the discovery document it ships, and Microsoft
Graph's /me/contacts and /me/people through requests and MSAL."""

import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import googleapiclient
import msal
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError

from sandbox import contacts, services
from sandbox.google import scopes
from sandbox.models import Contact, Mailbox, RequestLog
from sandbox.services import SandboxError
from tests.sandbox.conftest import GraphClient, google_service, raw_message

PEOPLE_DOC = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "people.v1.json"
)
READONLY, OTHER = scopes.CONTACTS_READONLY, scopes.CONTACTS_OTHER_READONLY


@pytest.fixture(autouse=True)
def _cold_search_cache():
    # The warm-up moments live in process memory, like quota windows.
    contacts.search_cache_reset()
    yield
    contacts.search_cache_reset()


@pytest.fixture(scope="module")
def people_document() -> dict:
    return json.loads(PEOPLE_DOC.read_text())


@pytest.fixture
def people_for(people_document, google_root):
    """people_for(token) → a googleapiclient People service talking to the sandbox."""
    return lambda token: google_service(people_document, google_root, token)


@pytest.fixture
def address_book(recruiter):
    return {
        "ann": contacts.contact_add(
            mailbox=recruiter,
            display_name="Ann Lee",
            emails=["ann.lee@example.test", "ann@home.test"],
            job_title="Staff Engineer",
            company="Acme Robotics",
        ),
        "bob": contacts.contact_add(
            mailbox=recruiter, display_name="Bob Stone", emails=["bstone@corp.test"]
        ),
        "other": contacts.contact_add(
            mailbox=recruiter,
            display_name="Annika Other",
            emails=["annika@wrote-to.test"],
            kind=Contact.Kind.OTHER,
        ),
    }


def _names(answer: dict) -> list[str]:
    return [r["person"]["names"][0]["displayName"] for r in answer.get("results", [])]


def _search(service, query: str, mask: str = "names,emailAddresses,organizations") -> dict:
    return service.people().searchContacts(query=query, readMask=mask).execute()


# --- Google: searchContacts --------------------------------------------------------------


def test_search_contacts_matches_prefix_phrases_of_names_addresses_and_organizations(
    people_for, token_for, recruiter, address_book
):
    service = people_for(token_for(recruiter, READONLY))
    assert _search(service, "") == {}  # the warm-up: refreshes the cache, finds nobody
    for query in ["ann", "Ann L", "lee", "ann.lee@ex", "home.test", "acme rob", "staff"]:
        assert _names(_search(service, query)) == ["Ann Lee"], query
    assert _names(_search(service, "bst")) == ["Bob Stone"]
    # Not the middle of a word, and other contacts are another source.
    assert _search(service, "nn l") == {}
    assert _search(service, "annika") == {}

    (result,) = _search(service, "ann")["results"]
    person = result["person"]
    assert person["resourceName"] == f"people/{address_book['ann'].provider_id}"
    assert person["etag"]
    assert [e["value"] for e in person["emailAddresses"]] == [
        "ann.lee@example.test",
        "ann@home.test",
    ]
    assert person["emailAddresses"][0]["metadata"]["primary"] is True
    assert person["emailAddresses"][0]["metadata"]["source"]["type"] == "CONTACT"
    assert person["organizations"] == [
        {
            "metadata": person["organizations"][0]["metadata"],
            "name": "Acme Robotics",
            "title": "Staff Engineer",
        }
    ]
    # The read mask decides which fields come back.
    (narrow,) = _search(service, "ann", mask="names")["results"]
    assert set(narrow["person"]) == {"resourceName", "etag", "names"}


def test_search_sees_the_cache_of_the_last_warm_up(people_for, token_for, recruiter):
    """Google: "Before searching, clients should send a warmup request with an empty query
    to update the cache." Without one a search finds nobody; a contact added since the last
    warm-up is found only after the next."""
    service = people_for(token_for(recruiter, READONLY))
    contacts.contact_add(mailbox=recruiter, display_name="Cara Cold", emails=["cara@x.test"])
    assert _search(service, "cara") == {}  # never warmed up
    _search(service, "")
    assert _names(_search(service, "cara")) == ["Cara Cold"]

    contacts.contact_add(mailbox=recruiter, display_name="Cara Later", emails=["cl@x.test"])
    assert _names(_search(service, "cara")) == ["Cara Cold"]  # stale until warmed again
    _search(service, "")
    assert _names(_search(service, "cara")) == ["Cara Cold", "Cara Later"]


def test_page_size_defaults_to_10_and_is_capped_at_30(people_for, token_for, recruiter):
    for number in range(35):
        contacts.contact_add(
            mailbox=recruiter, display_name=f"Dana {number:02d}", emails=[f"d{number}@x.test"]
        )
    service = people_for(token_for(recruiter, READONLY))
    _search(service, "")
    assert len(_search(service, "dana")["results"]) == 10
    capped = service.people().searchContacts(query="dana", readMask="names", pageSize=100)
    assert len(capped.execute()["results"]) == 30


def test_read_mask_is_required_and_checked(people_for, token_for, recruiter, address_book):
    service = people_for(token_for(recruiter, READONLY, OTHER))
    with pytest.raises(HttpError) as missing:
        service.people().searchContacts(query="ann").execute()
    assert missing.value.resp.status == 400
    assert "readMask is required" in json.loads(missing.value.content)["error"]["message"]
    with pytest.raises(HttpError) as unknown:
        _search(service, "ann", mask="names,shoeSize")
    assert unknown.value.resp.status == 400
    assert '"shoeSize"' in json.loads(unknown.value.content)["error"]["message"]
    # otherContacts.search reads names, emailAddresses, metadata and phoneNumbers only.
    with pytest.raises(HttpError) as organizations:
        service.otherContacts().search(query="ann", readMask="organizations").execute()
    assert organizations.value.resp.status == 400
    assert list(RequestLog.objects.values_list("status", flat=True)) == [400, 400, 400]


def test_partial_response_and_shapes_fit_the_discovery_document(
    people_for, people_document, token_for, recruiter, address_book
):
    service = people_for(token_for(recruiter, READONLY))
    _search(service, "")
    full = _search(service, "a", mask="names,emailAddresses,organizations,metadata")
    for result in full["results"]:
        _assert_fits(result["person"], "Person", people_document["schemas"])
    narrow = (
        service.people()
        .searchContacts(query="ann", readMask="names,emailAddresses", fields="results/person/names")
        .execute()
    )
    assert list(narrow["results"][0]["person"]) == ["names"]
    with pytest.raises(HttpError) as invalid:
        service.people().searchContacts(query="ann", readMask="names", fields="people").execute()
    assert invalid.value.resp.status == 400


def _assert_fits(value: dict, schema_name: str, schemas: dict) -> None:
    properties = schemas[schema_name]["properties"]
    for key, item in value.items():
        assert key in properties, f"{schema_name}.{key}"
        ref = properties[key].get("$ref") or properties[key].get("items", {}).get("$ref")
        for element in item if isinstance(item, list) else [item]:
            if ref and isinstance(element, dict):
                _assert_fits(element, ref, schemas)


# --- Google: other contacts, connections, scopes, quota, log -----------------------------


def test_other_contacts_need_their_own_scope(people_for, token_for, recruiter, address_book):
    contacts_only = people_for(token_for(recruiter, READONLY))
    with pytest.raises(HttpError) as refused:
        contacts_only.otherContacts().search(query="", readMask="names").execute()
    assert refused.value.resp.status == 403
    error = json.loads(refused.value.content)["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert OTHER in refused.value.resp["www-authenticate"]

    mail_only = people_for(token_for(recruiter, scopes.MODIFY))
    with pytest.raises(HttpError) as mail:
        _search(mail_only, "")
    assert mail.value.resp.status == 403

    others = people_for(token_for(recruiter, OTHER))
    assert others.otherContacts().search(query="", readMask="names").execute() == {}
    found = others.otherContacts().search(query="ann", readMask="names,emailAddresses").execute()
    (result,) = found["results"]
    assert result["person"]["resourceName"].startswith("otherContacts/c")
    assert result["person"]["emailAddresses"][0]["value"] == "annika@wrote-to.test"
    assert result["person"]["names"][0]["metadata"]["source"]["type"] == "OTHER_CONTACT"

    listed = others.otherContacts().list(readMask="emailAddresses").execute()
    assert listed["totalSize"] == 1
    assert [p["emailAddresses"][0]["value"] for p in listed["otherContacts"]] == [
        "annika@wrote-to.test"
    ]
    with pytest.raises(HttpError) as not_for_contacts:
        others.people().connections().list(resourceName="people/me", personFields="names").execute()
    assert not_for_contacts.value.resp.status == 403


def test_connections_list_pages_through_saved_contacts(
    people_for, token_for, recruiter, address_book
):
    service = people_for(token_for(recruiter, READONLY))
    connections = service.people().connections()
    first = connections.list(resourceName="people/me", personFields="names", pageSize=1).execute()
    assert first["totalPeople"] == 2 and first["nextPageToken"]
    second = connections.list(
        resourceName="people/me", personFields="names", pageSize=1, pageToken=first["nextPageToken"]
    ).execute()
    assert "nextPageToken" not in second
    names = [p["names"][0]["displayName"] for p in first["connections"] + second["connections"]]
    assert names == ["Ann Lee", "Bob Stone"]
    with pytest.raises(HttpError) as missing:
        connections.list(resourceName="people/me").execute()
    assert missing.value.resp.status == 400


def test_people_calls_are_charged_throttled_and_logged(
    people_for, token_for, recruiter, address_book
):
    Mailbox.objects.filter(pk=recruiter.pk).update(quota_per_minute=3)
    service = people_for(token_for(recruiter, READONLY))
    for query in ["", "ann", "bob"]:
        _search(service, query)
    with pytest.raises(HttpError) as limited:
        _search(service, "ann")
    assert limited.value.resp.status == 429
    log = list(
        RequestLog.objects.filter(mailbox=recruiter).values_list("operation", "status", "units")
    )
    assert log == [("people.people.searchContacts", 200, 1)] * 3 + [
        ("people.people.searchContacts", 429, 0)
    ]
    entry = RequestLog.objects.filter(mailbox=recruiter).first()
    assert entry is not None and entry.path.startswith("/sandbox/google/v1/people:searchContacts")
    assert entry.scopes == READONLY


def test_incremental_consent_adds_contacts_scopes_to_what_was_granted(
    google_client_config, recruiter, people_for, monkeypatch
):
    # The token answer lists every granted scope, not just the ones this flow asked for.
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    redirect = "http://localhost:8765/oauth/callback"

    def consent(wanted: list[str]) -> Credentials:
        flow = Flow.from_client_config(google_client_config, scopes=wanted, redirect_uri=redirect)
        url, _ = flow.authorization_url(
            access_type="offline", include_granted_scopes="true", login_hint=recruiter.address
        )
        parts = urlsplit(url)
        path = f"{parts.path}?{parts.query}"
        page = Client().get(path).content.decode()
        for scope in wanted:
            assert scopes.describe(scope).replace('"', "&quot;") in page
        allowed = Client().post(path, {"address": recruiter.address, "decision": "allow"})
        flow.fetch_token(authorization_response=allowed["Location"])
        return flow.credentials

    mail = consent([scopes.MODIFY])
    assert set(mail.granted_scopes) == {scopes.MODIFY}
    both = consent([READONLY, OTHER])
    assert set(both.granted_scopes) == {scopes.MODIFY, READONLY, OTHER}
    assert people_for(both).people().searchContacts(query="", readMask="names").execute() == {}


# --- Microsoft Graph ---------------------------------------------------------------------


@pytest.fixture
def ms_book(recruiter_ms):
    return [
        contacts.contact_add(
            mailbox=recruiter_ms,
            display_name="Ann Lee",
            emails=["ann.lee@example.test"],
            job_title="Staff Engineer",
            company="Acme Robotics",
        ),
        contacts.contact_add(
            mailbox=recruiter_ms, display_name="Andy Rowe", emails=["andy@rowe.test"]
        ),
        contacts.contact_add(
            mailbox=recruiter_ms,
            display_name="Anna Frequent",
            emails=["anna@often.test"],
            kind=Contact.Kind.OTHER,
        ),
    ]


def test_graph_contacts_filter_select_and_paging(graph_for, recruiter_ms, ms_book):
    graph = graph_for(recruiter_ms, "Contacts.Read")
    everyone = graph.get("me/contacts").json()["value"]
    # Saved contacts only: other contacts are not in the Contacts folder.
    assert [c["displayName"] for c in everyone] == ["Andy Rowe", "Ann Lee"]
    ann = everyone[1]
    assert ann["emailAddresses"] == [{"name": "Ann Lee", "address": "ann.lee@example.test"}]
    assert ann["jobTitle"] == "Staff Engineer" and ann["companyName"] == "Acme Robotics"
    assert ann["givenName"] == "Ann" and ann["surname"] == "Lee"

    starts = graph.get("me/contacts", params={"$filter": "startswith(displayName,'ann')"})
    assert [c["displayName"] for c in starts.json()["value"]] == ["Ann Lee"]
    by_address = graph.get(
        "me/contacts",
        params={"$filter": "emailAddresses/any(a:a/address eq 'andy@rowe.test')"},
    )
    assert [c["displayName"] for c in by_address.json()["value"]] == ["Andy Rowe"]
    either = graph.get(
        "me/contacts",
        params={"$filter": "startswith(givenName,'Andy') or companyName eq 'acme robotics'"},
    )
    assert len(either.json()["value"]) == 2
    # Graph documents eq on the address only: no startswith inside the lambda.
    refused = graph.get(
        "me/contacts", params={"$filter": "emailAddresses/any(a:startswith(a/address,'ann'))"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ErrorInvalidUrlQueryFilter"
    assert graph.get("me/contacts", params={"$search": '"ann"'}).status_code == 400

    selected = graph.get("me/contacts", params={"$select": "displayName,emailAddresses"})
    assert set(selected.json()["value"][0]) == {
        "@odata.etag",
        "id",
        "displayName",
        "emailAddresses",
    }

    first = graph.get("me/contacts", params={"$top": "1"}).json()
    assert len(first["value"]) == 1 and first["@odata.nextLink"]
    second = graph.get(first["@odata.nextLink"]).json()
    assert [c["displayName"] for c in second["value"]] == ["Ann Lee"]
    assert "@odata.nextLink" not in second


def test_graph_people_search_ranks_by_relevance(graph_for, recruiter_ms, ms_book):
    # Mail with the "other" contact makes her the most relevant despite not being saved.
    for number in range(3):
        services.message_deliver(
            mailbox=recruiter_ms,
            raw=raw_message(sender="anna@often.test", to=recruiter_ms.address, subject=f"{number}"),
        )
    graph = graph_for(recruiter_ms, "People.Read")
    found = graph.get("me/people", params={"$search": '"an"'}).json()["value"]
    assert [p["displayName"] for p in found] == ["Anna Frequent", "Andy Rowe", "Ann Lee"]
    anna, _, ann = found
    assert anna["scoredEmailAddresses"] == [
        {"address": "anna@often.test", "relevanceScore": 3.0, "selectionLikelihood": "notSpecified"}
    ]
    assert anna["personType"] == {"class": "Person", "subclass": "ImplicitContact"}
    assert ann["personType"]["subclass"] == "PersonalContact"
    assert ann["jobTitle"] == "Staff Engineer" and ann["companyName"] == "Acme Robotics"

    by_address = graph.get("me/people", params={"$search": '"ann.lee@"'}).json()["value"]
    assert [p["displayName"] for p in by_address] == ["Ann Lee"]
    assert graph.get("me/people", params={"$search": '"zed"'}).json()["value"] == []
    top = graph.get("me/people", params={"$top": "1", "$select": "displayName"}).json()
    assert top["value"] == [{"id": top["value"][0]["id"], "displayName": "Anna Frequent"}]
    assert top["@odata.nextLink"]


def test_graph_contacts_and_people_need_their_permissions(graph_for, recruiter_ms, ms_book):
    mail = graph_for(recruiter_ms, "Mail.Read")
    for path in ["me/contacts", "me/people"]:
        refused = mail.get(path)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert graph_for(recruiter_ms, "Contacts.Read").get("me/people").status_code == 403
    assert graph_for(recruiter_ms, "People.Read").get("me/contacts").status_code == 403
    assert graph_for(recruiter_ms, "People.Read").get("me/people").status_code == 200


def test_graph_contacts_are_throttled_and_logged(graph_for, recruiter_ms, ms_book):
    Mailbox.objects.filter(pk=recruiter_ms.pk).update(requests_per_ten_minutes=2)
    graph = graph_for(recruiter_ms, "Contacts.Read", "People.Read")
    assert graph.get("me/contacts").status_code == 200
    assert graph.get("me/people", params={"$search": '"ann"'}).status_code == 200
    limited = graph.get("me/contacts")
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    log = list(RequestLog.objects.values_list("operation", "status"))
    assert log == [
        ("graph.contacts.list", 200),
        ("graph.people.list", 200),
        ("graph.contacts.list", 429),
    ]


@pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning")
def test_msal_consent_to_contacts_and_people_on_top_of_mail(ms_server, recruiter_ms):
    """MSAL's incremental consent asks for the new permissions with the ones held; the
    consent page names them and the token opens /me/contacts and /me/people."""
    app = msal.ConfidentialClientApplication(
        "11111111-2222-3333-4444-555555555555",
        client_credential="sandbox-secret",
        authority=f"{ms_server.url}/sandbox/microsoft/organizations",
        instance_discovery=False,
    )
    graph = "https://graph.microsoft.com/"
    wanted = [graph + "Mail.Read", graph + "Contacts.Read", graph + "People.Read"]
    flow = app.initiate_auth_code_flow(
        wanted,
        redirect_uri="https://app.threadline.test/oauth/microsoft/callback",
        login_hint=recruiter_ms.address,
    )
    parts = urlsplit(flow["auth_uri"])
    path = f"{parts.path}?{parts.query}"
    page = Client().get(path).content.decode()
    assert "Read your contacts" in page and "Read your relevant people list" in page
    accepted = Client().post(path, {"decision": "accept"})
    answer = {k: v[0] for k, v in parse_qs(urlsplit(accepted["Location"]).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    granted = {s.rsplit("/", 1)[-1].lower() for s in result["scope"].split()}
    assert {"mail.read", "contacts.read", "people.read"} <= granted
    client = GraphClient(f"{ms_server.url}/sandbox/microsoft/graph/v1.0", result["access_token"])
    for path in ["me/contacts", "me/people", "me/messages"]:
        assert client.get(path).status_code == 200, path


# --- The service -------------------------------------------------------------------------


def test_contact_add_normalizes_and_refuses_nonsense(recruiter, recruiter_ms):
    added = contacts.contact_add(
        mailbox=recruiter, display_name=" Eve  Ng ", emails=["Eve@X.test", "eve@x.test", " "]
    )
    assert added.emails == ["eve@x.test"]
    assert (added.display_name, added.given_name, added.family_name) == ("Eve Ng", "Eve", "Ng")
    assert added.provider_id.startswith("c")
    assert contacts.contact_add(
        mailbox=recruiter_ms, display_name="Ms", emails=["ms@x.test"]
    ).provider_id.startswith("AAMkA")
    for bad in [
        {"display_name": "", "emails": []},
        {"display_name": "X", "emails": ["not-an-address"]},
        {"display_name": "X", "emails": [], "kind": "friend"},
    ]:
        with pytest.raises(SandboxError):
            contacts.contact_add(mailbox=recruiter, **bad)


# --- The command and the page ------------------------------------------------------------


def test_command_adds_contacts_and_issues_contacts_tokens(recruiter, people_for):
    out = io.StringIO()
    call_command(
        "sandbox",
        "contact-add",
        recruiter.address,
        "--name",
        "Gil Command",
        "--email",
        "gil@cli.test",
        "--company",
        "Shell Inc",
        stdout=out,
    )
    added = json.loads(out.getvalue())
    assert added["kind"] == "contact" and added["emails"] == ["gil@cli.test"]
    other = ["contact-add", recruiter.address, "--email", "o@cli.test", "--other"]
    call_command("sandbox", *other, stdout=io.StringIO())
    assert Contact.objects.get(emails=["o@cli.test"]).kind == Contact.Kind.OTHER
    with pytest.raises(CommandError, match="Not an email address"):
        call_command("sandbox", "contact-add", recruiter.address, "--email", "nope")

    token = io.StringIO()
    call_command("sandbox", "token", recruiter.address, "--scope", "contacts", stdout=token)
    service = people_for(token.getvalue().strip())
    _search(service, "")
    assert _names(_search(service, "shell")) == ["Gil Command"]


def test_contacts_page_lists_and_adds_with_field_errors(recruiter_ms):
    client = Client()
    url = f"/sandbox/mailboxes/{recruiter_ms.address}/contacts"
    assert "No contacts yet." in client.get(url).content.decode()
    refused = client.post(url, {"display_name": "Hal", "emails": "hal@, x", "kind": "contact"})
    assert refused.status_code == 400
    assert "Enter a valid email address." in refused.content.decode()
    added = client.post(
        url,
        {
            "display_name": "Hal Page",
            "emails": "hal@page.test, h@page.test",
            "job_title": "CTO",
            "company": "Pages",
            "kind": "other",
        },
    )
    assert added.status_code == 302
    contact = Contact.objects.get(mailbox=recruiter_ms)
    assert (contact.emails, contact.kind, contact.job_title) == (
        ["hal@page.test", "h@page.test"],
        "other",
        "CTO",
    )
    assert "hal@page.test, h@page.test" in client.get(url).content.decode()
