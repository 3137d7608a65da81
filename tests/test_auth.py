import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD


def test_recruiter_signs_in_with_email_and_password(team, client):
    response = client.post(
        reverse("account_login"),
        {"login": "TEAM_MEMBER@acme.test", "password": PASSWORD},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("candidates:list")
    assert response.context["user"] == team.team_member


def test_wrong_password_shows_an_error_and_does_not_sign_in(team, client):
    response = client.post(
        reverse("account_login"), {"login": "team_member@acme.test", "password": "nope"}
    )

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )
    assert not response.wsgi_request.user.is_authenticated


def test_repeated_failed_logins_are_rate_limited(team, client):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": "admin@acme.test", "password": "x"})

    blocked = client.post(
        reverse("account_login"), {"login": "admin@acme.test", "password": PASSWORD}
    )

    assert "Too many failed login attempts" in blocked.content.decode()
    assert not blocked.wsgi_request.user.is_authenticated


def test_password_reset_by_email_lets_the_user_sign_in_with_a_new_password(team, client):
    client.post(reverse("account_reset_password"), {"email": team.limited.email})

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [team.limited.email]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)
    assert link
    form_page = client.get(link.group(1), follow=True)
    new_password = "a-brand-new passphrase 42"
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"password1": new_password, "password2": new_password},
        follow=True,
    )
    assert done.status_code == 200
    fresh = Client()
    signed_in = fresh.post(
        reverse("account_login"), {"login": team.limited.email, "password": new_password}
    )
    assert signed_in.status_code == 302


def test_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(team, client):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@acme.test"})

    known = client.post(reverse("account_reset_password"), {"email": team.admin.email})

    assert response.status_code == known.status_code == 302
    assert response["Location"] == known["Location"]
    assert [m.to for m in mail.outbox] == [[team.admin.email]]


def test_post_without_csrf_token_is_refused(team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.team_member)

    response = client.post(reverse("mailsync:my_account"), {"full_name": "Changed"})

    assert response.status_code == 403
    team.team_member.refresh_from_db()
    assert team.team_member.full_name != "Changed"


@pytest.mark.django_db
def test_there_is_no_public_sign_up(client):
    response = client.get(reverse("account_signup"))

    assert "Sign Up Closed" in response.content.decode()


@pytest.mark.django_db
def test_google_and_microsoft_sign_in_are_hidden_without_client_ids(client):
    body = client.get(reverse("account_login")).content.decode()

    assert "/accounts/google/login/" not in body
    assert "/accounts/microsoft/login/" not in body


@pytest.mark.django_db
def test_google_sign_in_is_offered_once_its_client_id_is_configured(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "google": {"APPS": [{"client_id": "id.apps.example", "secret": "s"}]}
    }

    body = client.get(reverse("account_login")).content.decode()

    assert "/accounts/google/login/" in body
    assert "/accounts/microsoft/login/" not in body
