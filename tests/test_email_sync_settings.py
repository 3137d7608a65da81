"""Settings > Company > Email sync, the routing instructions and the change history, as a
Super Admin and everyone else sees them."""

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from accounts.models import IntegrationPermission, Organisation
from tests.factories import MailboxConnectionFactory

SETTINGS = "inbound:company_settings"


def _enable_limited(client, **overrides):
    data = {"form": "email_sync", "level": "limited", "routing_confirmed": "on"}
    data.update(overrides)
    return client.post(reverse(SETTINGS), {k: v for k, v in data.items() if v is not None})


def test_limited_sync_needs_the_routing_confirmation(team, client_for):
    response = _enable_limited(client_for(team.super_admin), routing_confirmed=None)

    assert response.status_code == 200
    errors = response.context["sync_form"].errors
    assert "without it, replies never reach Threadline" in errors["routing_confirmed"][0]
    team.organisation.refresh_from_db()
    assert team.organisation.email_sync_level == Organisation.SyncLevel.FULL


@pytest.mark.parametrize(
    ("provider", "label"),
    [
        ("google", "My Google admin has configured routing"),
        ("microsoft", "My Office 365 admin has configured auto-forward in Exchange"),
    ],
)
def test_the_confirmation_names_the_organisations_provider(team, client_for, provider, label):
    team.organisation.email_provider = provider
    team.organisation.save()

    page = client_for(team.super_admin).get(reverse(SETTINGS)).content.decode()

    assert label in page
    assert "Save email access" in page
    # The General form has the field too; the Email sync form adds it for Microsoft only.
    expected = 2 if provider == "microsoft" else 1
    assert page.count('name="microsoft_authorization_mode"') == expected


def test_a_super_admin_enables_limited_sync_and_the_change_is_audited(team, client_for):
    response = _enable_limited(client_for(team.super_admin))

    assert response.status_code == 302
    organisation = Organisation.objects.get(pk=team.organisation.pk)
    assert organisation.email_sync_level == Organisation.SyncLevel.LIMITED
    assert organisation.routing_confirmed_at is not None
    entry = LogEntry.objects.get_for_object(organisation).latest("timestamp")
    assert entry.actor == team.super_admin
    assert entry.changes_dict["email_sync_level"] == ["full", "limited"]
    page = client_for(team.super_admin).get(reverse(SETTINGS)).content.decode()
    assert "Change history" in page
    assert str(team.super_admin) in page
    assert organisation.inbound_address in page


def test_switching_level_resets_microsoft_admin_consent(team, client_for):
    organisation = team.organisation
    organisation.email_provider = "microsoft"
    organisation.microsoft_authorization_mode = "admin"
    organisation.microsoft_tenant_id = "tenant-1"
    organisation.save()
    organisation.microsoft_admin_consent_at = organisation.created_at
    organisation.save()

    _enable_limited(client_for(team.super_admin), microsoft_authorization_mode="admin")

    organisation.refresh_from_db()
    assert organisation.microsoft_admin_consent_at is None
    page = client_for(team.super_admin).get(reverse(SETTINGS)).content.decode()
    assert "to sending only (Mail.Send)" in page
    assert "remove Threadline's earlier permissions" in page


@pytest.mark.parametrize("role", ["admin", "team_member", "limited"])
def test_only_super_admins_change_the_sync_level(team, client_for, role):
    response = _enable_limited(client_for(team.by_role(role)))

    assert response.status_code == 403
    team.organisation.refresh_from_db()
    assert team.organisation.email_sync_level == Organisation.SyncLevel.FULL


@pytest.mark.parametrize("role", ["admin", "team_member", "limited"])
def test_only_super_admins_read_the_routing_instructions(team, client_for, role):
    response = client_for(team.by_role(role)).get(reverse("inbound:routing_instructions"))

    assert response.status_code == 403
    assert team.organisation.inbound_address not in response.content.decode()


def test_on_premise_exchange_never_sees_limited_sync(team, client_for):
    team.organisation.email_provider = Organisation.EmailProvider.EXCHANGE_ON_PREMISE
    team.organisation.save()
    client = client_for(team.super_admin)

    page = client.get(reverse(SETTINGS)).content.decode()
    forced = _enable_limited(client)

    assert "Enable limited sync" not in page
    assert 'value="limited"' not in page
    assert "on-premise Exchange" in page
    assert forced.status_code == 200
    assert "not available" in str(forced.context["sync_form"].errors)
    team.organisation.refresh_from_db()
    assert team.organisation.email_sync_level == Organisation.SyncLevel.FULL


def test_an_on_premise_organisations_users_are_told_why_they_cannot_connect(team, client_for):
    team.organisation.email_provider = Organisation.EmailProvider.EXCHANGE_ON_PREMISE
    team.organisation.save()

    response = client_for(team.team_member).post(
        reverse("mailsync:my_account"), {"full_name": "T", "email": "on"}, follow=True
    )

    assert "on-premise Exchange server" in response.content.decode()
    # The rest of the form was saved; Email is left unticked, with nothing waiting.
    team.team_member.refresh_from_db()
    assert team.team_member.full_name == "T"
    email = IntegrationPermission.objects.get(user=team.team_member, kind="email")
    assert (email.enabled, email.state) == (False, IntegrationPermission.State.OFF)


def test_google_routing_instructions_name_the_rule_to_copy(team, client_for, settings):
    settings.THREADLINE_MESSAGE_ID_DOMAIN = "mail.threadline.example"
    settings.THREADLINE_INBOUND_DOMAIN = "in.threadline.example"

    page = client_for(team.super_admin).get(reverse("inbound:routing_instructions"))

    text = page.content.decode()
    address = f"{team.organisation.inbound_key}@in.threadline.example"
    assert address in text
    assert "Content compliance" in text
    assert r"@mail\.threadline\.example&gt;" in text
    assert "Also deliver to" in text
    assert "New-TransportRule" not in text


def test_exchange_routing_instructions_include_ready_powershell(team, client_for, settings):
    settings.THREADLINE_MESSAGE_ID_DOMAIN = "mail.threadline.example"
    team.organisation.email_provider = "microsoft"
    team.organisation.save()

    page = client_for(team.super_admin).get(reverse("inbound:routing_instructions"))

    powershell = page.context["rules"].powershell
    assert len(powershell) == 2
    assert powershell[0].startswith(
        'New-TransportRule -Name "Threadline replies (References)" '
        '-HeaderMatchesMessageHeader "References" '
        r'-HeaderMatchesPatterns "@mail\.threadline\.example>" '
        f'-BlindCopyTo "{team.organisation.inbound_address}"'
    )
    assert '-HeaderMatchesMessageHeader "In-Reply-To"' in powershell[1]
    assert "New-TransportRule" in page.content.decode()


def test_the_google_rule_matches_replies_and_not_our_own_first_message():
    import re

    from accounts.routing import routing_rules_for
    from tests.factories import OrganisationFactory

    rules = routing_rules_for(OrganisationFactory.build())
    ours = "<tl.0123@threadline.localhost>"
    reply = f"From: a@b\r\nReferences: <x@y>\r\n {ours}\r\nSubject: Re\r\n"
    first = f"Message-ID: {ours}\r\nSubject: Hello\r\n"

    assert re.search(rules.google_regex, reply)
    assert not re.search(rules.google_regex, first)


def test_the_sandbox_link_applies_the_rule_to_the_users_domain(team, client_for):
    page = client_for(team.super_admin).get(reverse("inbound:routing_instructions"))

    link = page.context["sandbox_routing_url"]
    assert link.startswith(reverse("sandbox:routing"))
    assert "domain=acme.test" in link
    assert team.organisation.inbound_key in link


def test_switching_back_to_send_and_view_keeps_send_only_users_sending_and_asks_them_to_reauthorize(
    team, client_for
):
    team.organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    team.organisation.save()
    connection = MailboxConnectionFactory(
        user=team.team_member, sync_level=Organisation.SyncLevel.LIMITED
    )

    response = client_for(team.super_admin).post(
        reverse(SETTINGS), {"form": "email_sync", "level": "full"}, follow=True
    )

    assert "Email access is Send &amp; view" in response.content.decode()
    connection.refresh_from_db()
    # Raising keeps what the user had: still connected, still sending.
    assert connection.state == "connected"
    page = client_for(team.team_member).get(reverse("mailsync:my_account")).content.decode()
    assert 'id="upgrade-banner"' in page
    assert "now lets Threadline read your mail" in page
    assert "Re-authorize" in page


def test_the_admin_shows_the_sync_level_but_does_not_change_it(team, client_for):
    url = reverse("admin:accounts_organisation_change", args=[team.organisation.pk])
    client = client_for(team.super_admin)
    shown = client.get(url).content.decode()

    saved = client.post(
        url,
        {
            "name": "Acme Renamed",
            "slug": "acme",
            "email_provider": "google",
            "microsoft_authorization_mode": "users",
            "email_sync_level": "limited",
        },
    )

    assert '<div class="readonly">Send &amp; view</div>' in shown
    # The form was accepted (so a refusal is not why the level stayed): the name changed.
    assert saved.status_code == 302
    team.organisation.refresh_from_db()
    assert team.organisation.name == "Acme Renamed"
    assert team.organisation.email_sync_level == Organisation.SyncLevel.FULL


def test_inbound_counts_are_shown_to_the_super_admin(team, client_for):
    from django.utils import timezone

    from inbound.models import DailyTally

    team.organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    team.organisation.save()
    today = timezone.localdate()
    DailyTally.objects.create(organisation=team.organisation, day=today, outcome="stored", count=7)
    DailyTally.objects.create(organisation=team.organisation, day=today, outcome="dropped", count=3)

    response = client_for(team.super_admin).get(reverse(SETTINGS))

    assert response.context["inbound"] == {"stored": 7, "dropped": 3}
    assert "<dt>Stored</dt><dd>7</dd>" in response.content.decode()


@pytest.mark.parametrize(
    ("calendar", "contacts", "extra"),
    [
        (False, False, set()),
        (True, False, {"Calendars.ReadWrite"}),
        (True, True, {"Calendars.ReadWrite", "Contacts.Read", "People.Read"}),
    ],
)
def test_admin_consent_under_limited_sync_asks_only_to_send(
    team, client_for, calendar, contacts, extra
):
    """Mail: send only. Calendar and Contacts, when the company has them on, too."""
    from urllib.parse import parse_qs, urlsplit

    organisation = team.organisation
    organisation.email_provider = "microsoft"
    organisation.microsoft_authorization_mode = "admin"
    organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    organisation.calendar_enabled = calendar
    organisation.contacts_enabled = contacts
    organisation.save()

    response = client_for(team.super_admin).post(reverse("mailsync:admin_consent"))

    scopes = parse_qs(urlsplit(response["Location"]).query)["scope"][0].split()
    assert {s.rsplit("/", 1)[1] for s in scopes} == {"User.Read", "Mail.Send"} | extra
