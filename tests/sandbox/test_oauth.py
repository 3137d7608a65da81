"""The OAuth endpoints as google-auth-oauthlib's Flow and google-auth's Credentials use them."""

from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import pytest
import requests
from django.test import Client
from google.auth.exceptions import RefreshError
from google_auth_oauthlib.flow import Flow

from sandbox import tokens
from sandbox.google import scopes
from sandbox.models import Grant, RequestLog

REDIRECT = "http://localhost:8765/oauth/callback"


@pytest.fixture
def flow(google_client_config):
    return Flow.from_client_config(
        google_client_config, scopes=[scopes.MODIFY, scopes.SEND], redirect_uri=REDIRECT
    )


def _consent_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _allow(url: str, address: str) -> str:
    response = Client().post(_consent_path(url), {"address": address, "decision": "allow"})
    assert response.status_code == 302
    return response["Location"]


def test_recruiter_completes_flow_refreshes_and_revokes(flow, recruiter, gmail_for, live_server):
    url, state = flow.authorization_url(
        access_type="offline", prompt="consent", login_hint=recruiter.address
    )
    assert "code_challenge_method=S256" in url

    page = Client().get(_consent_path(url))
    assert page.status_code == 200
    assert "Read, compose, and send emails from your Gmail account" in page.content.decode()
    assert "Send email on your behalf" in page.content.decode()
    assert recruiter.address in page.content.decode()

    callback = _allow(url, recruiter.address)
    answer = parse_qs(urlsplit(callback).query)
    assert callback.startswith(REDIRECT)
    assert answer["state"] == [state]

    flow.fetch_token(authorization_response=callback)
    credentials = flow.credentials
    assert credentials.token.startswith("ya29.")
    assert credentials.refresh_token
    assert set(credentials.granted_scopes) == {scopes.MODIFY, scopes.SEND}

    profile = gmail_for(credentials).users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == recruiter.address

    first_token = credentials.token
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.token != first_token
    assert gmail_for(credentials.token).users().getProfile(userId="me").execute()

    revoked = requests.post(
        f"{live_server.url}/sandbox/google/revoke",
        params={"token": credentials.refresh_token},
        timeout=5,
    )
    assert revoked.status_code == 200
    assert Grant.objects.get().revoked_at is not None

    with pytest.raises(RefreshError, match="invalid_grant"):
        credentials.refresh(google.auth.transport.requests.Request())
    refused = requests.get(
        f"{live_server.url}/sandbox/google/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {first_token}"},
        timeout=5,
    )
    assert refused.status_code == 401

    operations = list(RequestLog.objects.values_list("operation", "status"))
    assert ("oauth2.token.authorization_code", 200) in operations
    assert ("oauth2.token.refresh_token", 200) in operations
    assert ("oauth2.token.refresh_token", 400) in operations
    assert ("oauth2.revoke", 200) in operations


def test_user_denies_consent_and_client_gets_access_denied(flow, recruiter):
    url, state = flow.authorization_url(login_hint=recruiter.address)
    response = Client().post(_consent_path(url), {"decision": "deny"})
    answer = parse_qs(urlsplit(response["Location"]).query)
    assert answer == {"error": ["access_denied"], "state": [state]}


def test_unknown_mailbox_gets_an_error_on_the_consent_page(flow, recruiter):
    url, _ = flow.authorization_url(login_hint="nobody@nowhere.test")
    page = Client().get(_consent_path(url))
    assert "find your Google Account" in page.content.decode()
    response = Client().post(
        _consent_path(url), {"address": "nobody@nowhere.test", "decision": "allow"}
    )
    assert response.status_code == 400
    assert "find your Google Account" in response.content.decode()
    assert Grant.objects.count() == 0


def test_token_endpoint_refuses_bad_verifier_reuse_and_foreign_client(flow, recruiter, live_server):
    url, _ = flow.authorization_url(access_type="offline", login_hint=recruiter.address)
    code = parse_qs(urlsplit(_allow(url, recruiter.address)).query)["code"][0]
    token_url = f"{live_server.url}/sandbox/google/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": flow.client_config["client_id"],
        "client_secret": "shh",
    }
    wrong = requests.post(token_url, data={**form, "code_verifier": "x" * 50}, timeout=5)
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}

    good = requests.post(token_url, data={**form, "code_verifier": flow.code_verifier}, timeout=5)
    assert good.status_code == 200
    body = good.json()
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    assert body["scope"].split() == [scopes.MODIFY, scopes.SEND]

    again = requests.post(token_url, data={**form, "code_verifier": flow.code_verifier}, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    foreign = requests.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": "someone-else",
        },
        timeout=5,
    )
    assert foreign.status_code == 400 and foreign.json()["error"] == "unauthorized_client"

    nobody = requests.post(token_url, data={"grant_type": "refresh_token"}, timeout=5)
    assert nobody.status_code == 401 and nobody.json()["error"] == "invalid_client"


def test_revoking_an_unknown_token_is_invalid_token(live_server, transactional_db):
    response = requests.post(
        f"{live_server.url}/sandbox/google/revoke", data={"token": "nope"}, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_token"


def test_expired_access_token_answers_401_unauthenticated(recruiter, token_for, live_server):
    token = token_for(recruiter)
    tokens.token_expire(token=token)
    response = requests.get(
        f"{live_server.url}/sandbox/google/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    missing = requests.get(f"{live_server.url}/sandbox/google/gmail/v1/users/me/profile", timeout=5)
    assert missing.status_code == 401
