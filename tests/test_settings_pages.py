from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from accounts.models import IntegrationPermission, Organisation
from mailsync.models import PendingAuthorization

State = IntegrationPermission.State


def _states(user) -> dict[str, str]:
    return dict(IntegrationPermission.objects.filter(user=user).values_list("kind", "state"))


def test_my_account_shows_the_three_permission_boxes_unticked(team, client_for):
    response = client_for(team.team_member).get(reverse("mailsync:my_account"))

    body = response.content.decode()
    for name in ("email", "calendar", "contacts"):
        assert f'name="{name}"' in body
    assert body.count("checked") == 0
    assert body.count(">Off<") == 3


def test_ticking_email_sends_the_user_to_the_providers_consent_screen(team, client_for, settings):
    client = client_for(team.team_member)

    response = client.post(
        reverse("mailsync:my_account"), {"full_name": "Riley Chen", "email": "on"}
    )

    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert response.status_code == 302
    assert response["Location"].startswith(settings.GOOGLE_AUTH_URI)
    assert query["scope"][0].split() == [
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.send",
    ]
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"]
    assert PendingAuthorization.objects.filter(
        user=team.team_member, state=query["state"][0]
    ).exists()
    assert _states(team.team_member) == {
        "email": State.AWAITING_AUTHORIZATION,
        "calendar": State.OFF,
        "contacts": State.OFF,
    }
    page = client.get(reverse("mailsync:my_account")).content.decode()
    assert "Waiting for provider authorization" in page
    team.team_member.refresh_from_db()
    assert team.team_member.full_name == "Riley Chen"


def test_saving_again_keeps_a_connected_mailbox_connected(team, client_for):
    IntegrationPermission.objects.create(
        user=team.team_member, kind="email", enabled=True, state=State.CONNECTED
    )

    client_for(team.team_member).post(
        reverse("mailsync:my_account"), {"full_name": "New Name", "email": "on"}
    )

    assert _states(team.team_member)["email"] == State.CONNECTED


def test_unticking_email_turns_it_off(team, client_for):
    IntegrationPermission.objects.create(
        user=team.team_member, kind="email", enabled=True, state=State.CONNECTED
    )

    client_for(team.team_member).post(reverse("mailsync:my_account"), {"full_name": "N"})

    assert _states(team.team_member)["email"] == State.OFF


def test_my_account_without_a_name_shows_a_field_error_and_changes_nothing(team, client_for):
    response = client_for(team.team_member).post(
        reverse("mailsync:my_account"), {"full_name": "   ", "email": "on"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["full_name"]
    assert not IntegrationPermission.objects.filter(user=team.team_member).exists()


def test_super_admin_renames_the_organisation_and_picks_its_provider(team, client_for):
    response = client_for(team.super_admin).post(
        reverse("inbound:company_settings"),
        {
            "name": "Acme Robotics",
            "email_provider": "microsoft",
            "microsoft_authorization_mode": "users",
        },
    )

    team.organisation.refresh_from_db()
    assert response.status_code == 302
    assert team.organisation.name == "Acme Robotics"
    assert team.organisation.email_provider == Organisation.EmailProvider.MICROSOFT


def test_company_settings_reject_an_unknown_provider_with_a_field_error(team, client_for):
    response = client_for(team.super_admin).post(
        reverse("inbound:company_settings"), {"name": "Acme", "email_provider": "yahoo"}
    )

    assert response.status_code == 200
    assert "email_provider" in response.context["form"].errors
    team.organisation.refresh_from_db()
    assert team.organisation.email_provider == "google"


def test_admin_cannot_post_company_settings(team, client_for):
    response = client_for(team.admin).post(
        reverse("inbound:company_settings"),
        {"name": "Hijacked", "email_provider": "google", "microsoft_authorization_mode": "users"},
    )

    assert response.status_code == 403
    team.organisation.refresh_from_db()
    assert team.organisation.name != "Hijacked"
