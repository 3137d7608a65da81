"""The identity platform as MSAL's ConfidentialClientApplication uses it, over HTTPS."""

from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests
from django.test import Client

from sandbox import tokens
from sandbox.models import AdminConsent, Grant, RequestLog

# MSAL nudges towards form_post; these tests read the code from the query-mode redirect.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post':UserWarning")

REDIRECT = "https://app.threadline.test/oauth/microsoft/callback"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
GRAPH_SCOPES = [
    "https://graph.microsoft.com/Mail.ReadWrite",
    "https://graph.microsoft.com/Mail.Send",
]


def _app(server, tenant: str = "organizations") -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="sandbox-secret",
        authority=f"{server.url}/sandbox/microsoft/{tenant}",
        instance_discovery=False,
    )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _callback_params(location: str) -> dict[str, str]:
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_recruiter_consents_gets_tokens_refreshes_silently_and_loses_them_on_revoke(
    ms_server, recruiter_ms
):
    app = _app(ms_server)
    flow = app.initiate_auth_code_flow(
        GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint=recruiter_ms.address
    )
    assert flow["auth_uri"].startswith(f"{ms_server.url}/sandbox/microsoft/organizations/")
    assert "code_challenge_method=S256" in flow["auth_uri"]

    page = Client().get(_path(flow["auth_uri"]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Permissions requested" in text
    assert "Read and write access to your mail" in text and "Send mail as you" in text
    assert "Maintain access to data you have given it access to" in text

    accepted = Client().post(_path(flow["auth_uri"]), {"decision": "accept"})
    answer = _callback_params(accepted["Location"])
    assert set(answer) == {"code", "client_info", "state", "session_state"}
    assert answer["state"] == flow["state"]

    result = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "access_token" in result, result
    claims = result["id_token_claims"]
    assert claims["preferred_username"] == recruiter_ms.address
    assert claims["tid"] == recruiter_ms.tenant.tenant_id
    assert claims["aud"] == CLIENT_ID
    assert claims["iss"] == f"{ms_server.url}/sandbox/microsoft/{claims['tid']}/v2.0"
    assert result["refresh_token"] and result["token_type"] == "Bearer"
    assert set(result["scope"].split()) >= set(GRAPH_SCOPES)

    me = requests.get(
        f"{ms_server.url}/sandbox/microsoft/graph/v1.0/me/messages",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 200

    (account,) = app.get_accounts()
    assert account["username"] == recruiter_ms.address
    refreshed = app.acquire_token_silent(GRAPH_SCOPES, account=account, force_refresh=True)
    assert refreshed["access_token"] != result["access_token"]
    assert refreshed["refresh_token"] != result["refresh_token"]
    # Microsoft keeps earlier refresh tokens valid until the grant is revoked.
    again = app.acquire_token_by_refresh_token(result["refresh_token"], GRAPH_SCOPES)
    assert "access_token" in again, again

    assert tokens.grants_revoke(mailbox=recruiter_ms) == 1
    refused = app.acquire_token_silent_with_error(GRAPH_SCOPES, account=account, force_refresh=True)
    assert refused["error"] == "invalid_grant"
    assert refused["error_codes"] == [50173]
    assert refused["error_description"].startswith("AADSTS50173: ")
    stale = requests.get(
        f"{ms_server.url}/sandbox/microsoft/graph/v1.0/me/messages",
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        timeout=10,
    )
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "InvalidAuthenticationToken"

    operations = list(RequestLog.objects.values_list("operation", "status"))
    assert ("identity.openid_configuration", 200) in operations
    assert ("identity.token.authorization_code", 200) in operations
    assert ("identity.token.refresh_token", 200) in operations
    assert ("identity.token.refresh_token", 400) in operations


def test_admin_consent_for_the_tenant_skips_the_consent_page(ms_server, ms_mailbox):
    admin = ms_mailbox("admin@contoso365.test")
    user = ms_mailbox("user@contoso365.test")
    tenant_id = admin.tenant.tenant_id
    consent_url = (
        f"/sandbox/microsoft/{admin.tenant.domain}/v2.0/adminconsent?client_id={CLIENT_ID}"
        f"&scope=https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send"
        f"&redirect_uri={REDIRECT}&state=admin-1"
    )
    page = Client().get(consent_url)
    assert "Review for your organization" in page.content.decode()
    accepted = Client().post(consent_url, {"address": admin.address, "decision": "accept"})
    answer = _callback_params(accepted["Location"])
    assert answer["admin_consent"] == "True"
    assert answer["tenant"] == tenant_id and answer["state"] == "admin-1"
    assert AdminConsent.objects.get().client_id == CLIENT_ID

    app = _app(ms_server, tenant_id)
    flow = app.initiate_auth_code_flow(GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint=user.address)
    straight_back = Client().get(_path(flow["auth_uri"]))
    assert straight_back.status_code == 302
    result = app.acquire_token_by_auth_code_flow(flow, _callback_params(straight_back["Location"]))
    assert result["id_token_claims"]["preferred_username"] == user.address

    # A user of another tenant still sees the consent page.
    outsider = ms_mailbox("someone@fabrikam365.test")
    other = _app(ms_server).initiate_auth_code_flow(
        GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint=outsider.address
    )
    assert Client().get(_path(other["auth_uri"])).status_code == 200


def test_v1_admin_consent_covers_every_permission(ms_server, ms_mailbox):
    admin = ms_mailbox("admin@contoso365.test")
    url = (
        f"/sandbox/microsoft/common/adminconsent?client_id={CLIENT_ID}&redirect_uri={REDIRECT}"
        "&state=s"
    )
    answer = _callback_params(
        Client().post(url, {"address": admin.address, "decision": "accept"})["Location"]
    )
    assert answer == {"admin_consent": "True", "tenant": admin.tenant.tenant_id, "state": "s"}
    flow = _app(ms_server).initiate_auth_code_flow(
        ["Mail.Read", "MailboxSettings.ReadWrite"], redirect_uri=REDIRECT, login_hint=admin.address
    )
    assert Client().get(_path(flow["auth_uri"])).status_code == 302


def test_user_cancels_consent_and_the_app_gets_access_denied(ms_server, recruiter_ms):
    flow = _app(ms_server).initiate_auth_code_flow(
        GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint=recruiter_ms.address
    )
    answer = _callback_params(
        Client().post(_path(flow["auth_uri"]), {"decision": "cancel"})["Location"]
    )
    assert answer["error"] == "access_denied"
    assert answer["error_description"].startswith("AADSTS65004: User declined to consent")
    assert answer["state"] == flow["state"]
    assert Grant.objects.count() == 0


def test_openid_configuration_of_a_gcc_high_tenant_names_the_us_government_cloud(
    ms_server, ms_mailbox
):
    commercial = ms_mailbox("rec@contoso365.test")
    government = ms_mailbox("rec@agency.army.test", gcc_high=True)
    base = f"{ms_server.url}/sandbox/microsoft"

    common = requests.get(f"{base}/organizations/v2.0/.well-known/openid-configuration", timeout=10)
    document = common.json()
    assert document["issuer"] == f"{base}/{{tenantid}}/v2.0"
    assert document["authorization_endpoint"] == f"{base}/organizations/oauth2/v2.0/authorize"
    assert document["token_endpoint"] == f"{base}/organizations/oauth2/v2.0/token"
    assert document["cloud_instance_name"] == "microsoftonline.com"
    assert document["tenant_region_scope"] is None
    assert "tenant_region_sub_scope" not in document

    by_domain = requests.get(
        f"{base}/contoso365.test/v2.0/.well-known/openid-configuration", timeout=10
    ).json()
    tenant_id = commercial.tenant.tenant_id
    assert by_domain["issuer"] == f"{base}/{tenant_id}/v2.0"
    assert by_domain["token_endpoint"] == f"{base}/{tenant_id}/oauth2/v2.0/token"

    gcc = requests.get(
        f"{base}/{government.tenant.tenant_id}/v2.0/.well-known/openid-configuration", timeout=10
    ).json()
    assert gcc["tenant_region_sub_scope"] == "DODCON"
    assert gcc["cloud_instance_name"] == "microsoftonline.us"

    unknown = requests.get(f"{base}/nowhere.test/v2.0/.well-known/openid-configuration", timeout=10)
    assert unknown.status_code == 400
    assert unknown.json()["error_codes"] == [90002]
    with pytest.raises(ValueError, match=r"nowhere\.test"):
        _app(ms_server, "nowhere.test")


def test_token_endpoint_refuses_bad_verifier_and_a_redeemed_code(ms_server, recruiter_ms):
    flow = _app(ms_server).initiate_auth_code_flow(
        GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint=recruiter_ms.address
    )
    code = _callback_params(
        Client().post(_path(flow["auth_uri"]), {"decision": "accept"})["Location"]
    )["code"]
    token_url = f"{ms_server.url}/sandbox/microsoft/organizations/oauth2/v2.0/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": "sandbox-secret",
        "scope": " ".join(GRAPH_SCOPES),
    }
    wrong = requests.post(token_url, data={**form, "code_verifier": "x" * 50}, timeout=10)
    assert wrong.status_code == 400
    body = wrong.json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [501481]
    assert {"timestamp", "trace_id", "correlation_id", "error_description"} <= set(body)

    good = requests.post(
        token_url, data={**form, "code_verifier": flow["code_verifier"]}, timeout=10
    )
    assert good.status_code == 200
    assert set(good.json()) >= {"access_token", "refresh_token", "id_token", "expires_in"}

    reused = requests.post(
        token_url, data={**form, "code_verifier": flow["code_verifier"]}, timeout=10
    )
    assert reused.status_code == 400 and reused.json()["error_codes"] == [54005]

    no_secret = requests.post(
        token_url, data={**form, "client_secret": "", "code_verifier": ""}, timeout=10
    )
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"


def test_malformed_requests_and_unknown_accounts_are_refused(ms_server, recruiter_ms):
    base = "/sandbox/microsoft/organizations/oauth2/v2.0/authorize"
    implicit = Client().get(
        f"{base}?client_id={CLIENT_ID}&response_type=token&redirect_uri={REDIRECT}&scope=openid"
        "&state=s1"
    )
    assert _callback_params(implicit["Location"]) == {
        "error": "unsupported_response_type",
        "state": "s1",
    }
    no_client = Client().get(f"{base}?response_type=code&redirect_uri={REDIRECT}&scope=openid")
    assert no_client.status_code == 400
    assert "AADSTS900144" in no_client.content.decode()

    flow = _app(ms_server).initiate_auth_code_flow(
        GRAPH_SCOPES, redirect_uri=REDIRECT, login_hint="nobody@agency365.test"
    )
    page = Client().get(_path(flow["auth_uri"]))
    assert "We couldn't find an account with that username" in page.content.decode()
    # A Google mailbox is not a Microsoft account either.
    refused = Client().post(
        _path(flow["auth_uri"]), {"address": "someone@gmail.test", "decision": "accept"}
    )
    assert refused.status_code == 400
    assert Grant.objects.count() == 0
