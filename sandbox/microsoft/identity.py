"""Microsoft identity platform (v2.0 endpoints) as MSAL uses it: OpenID discovery, the
consent page, admin consent, and the token endpoint (authorization_code with PKCE and
refresh_token, rotating refresh tokens), under /sandbox/microsoft/{tenant}/.

{tenant} is "common", "organizations", a tenant GUID or a mail domain of the sandbox's
Microsoft mailboxes. Every absolute URL is built from the request's scheme and host, so
the document points back at whichever server (HTTPS for MSAL) answered it.
"""

import base64
import json
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from sandbox import selectors, services, tokens
from sandbox.microsoft import scopes
from sandbox.microsoft.errors import (
    OAUTH_JSON,
    AadError,
    json_response,
    missing_parameter,
    unknown_tenant,
)
from sandbox.models import AdminConsent, Mailbox, Provider, RequestLog, Tenant
from sandbox.requestlog import log_write

MULTI_TENANT = {"common", "organizations"}
ID_TOKEN_SECONDS = 3600


def _log(request: HttpRequest, operation: str, status: int, **fields) -> None:
    entry = RequestLog(
        provider=Provider.MICROSOFT,
        method=request.method or "GET",
        path=request.get_full_path()[:2000],
        operation=operation,
        status=status,
        **fields,
    )
    log_write([entry])


def _tenant(segment: str) -> Tenant | None:
    """The tenant a path names; None for the multi-tenant authorities."""
    if segment.lower() in MULTI_TENANT:
        return None
    if segment.lower() == "consumers":
        raise AadError.of("consumers")
    found = Tenant.objects.filter(tenant_id=segment.lower()).first()
    found = found or Tenant.objects.filter(domain=segment.lower()).first()
    if found is None:
        raise unknown_tenant(segment)
    return found


def _absolute(request: HttpRequest, name: str, segment: str) -> str:
    return f"{request.scheme}://{request.get_host()}{reverse(name, args=[segment])}"


def _browser_page(request: HttpRequest, name: str, segment: str) -> str:
    """Where browsers are sent to sign in. Microsoft serves it over https like everything
    else; `make run` can name a plain-http address instead (SANDBOX_MICROSOFT_LOGIN_URL) so
    that the demo's browser meets no warning about the sandbox's local certificate, while
    MSAL's own calls still go to the https authority."""
    if settings.SANDBOX_MICROSOFT_LOGIN_URL:
        return f"{settings.SANDBOX_MICROSOFT_LOGIN_URL.rstrip('/')}{reverse(name, args=[segment])}"
    return _absolute(request, name, segment)


def _issuer(request: HttpRequest, tenant_id: str) -> str:
    # The v2.0 issuer is "{authority host}/{tenant id}/v2.0".
    root = reverse("sandbox:ms-openid-configuration", args=["x"]).rsplit("/x/", 1)[0]
    return f"{request.scheme}://{request.get_host()}{root}/{tenant_id}/v2.0"


def _aad_json(request: HttpRequest, error: AadError, operation: str) -> HttpResponse:
    _log(request, operation, error.status)
    body = error.body(request.headers.get("client-request-id", ""))
    return json_response(body, error.status, {"Cache-Control": "no-store"}, content_type=OAUTH_JSON)


# --- Discovery ---------------------------------------------------------------------------


@require_GET
def openid_configuration(request: HttpRequest, tenant: str) -> HttpResponse:
    try:
        found = _tenant(tenant)
    except AadError as error:
        return _aad_json(request, error, "identity.openid_configuration")
    segment = found.tenant_id if found else tenant.lower()
    gcc_high = bool(found and found.gcc_high)
    document = {
        "token_endpoint": _absolute(request, "sandbox:ms-token", segment),
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": _absolute(request, "sandbox:ms-keys", segment),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": _issuer(request, found.tenant_id if found else "{tenantid}"),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": _browser_page(request, "sandbox:ms-authorize", segment),
        "device_authorization_endpoint": _absolute(request, "sandbox:ms-token", segment).replace(
            "/token", "/devicecode"
        ),
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": _absolute(request, "sandbox:ms-logout", segment),
        "claims_supported": [
            *("sub", "iss", "cloud_instance_name", "cloud_instance_host_name"),
            *("cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time"),
            *("acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash"),
            *("c_hash", "email"),
        ],
        "kerberos_endpoint": _absolute(request, "sandbox:ms-authorize", segment).replace(
            "/oauth2/v2.0/authorize", "/kerberos"
        ),
        "tenant_region_scope": "NA" if found else None,
        "cloud_instance_name": "microsoftonline.us" if gcc_high else "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.us" if gcc_high else "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    if gcc_high:
        # US Government "GCC High" tenants: Azure Government's DoD-contractor sub-scope.
        document["tenant_region_sub_scope"] = "DODCON"
    _log(request, "identity.openid_configuration", 200)
    return json_response(document, content_type=OAUTH_JSON)


@require_GET
def keys(request: HttpRequest, tenant: str) -> HttpResponse:
    # id_tokens are unsigned (alg "none"): MSAL does not verify them, and nothing here
    # should pretend to hold Microsoft's signing keys.
    return json_response({"keys": []}, content_type=OAUTH_JSON)


@require_GET
def logout(request: HttpRequest, tenant: str) -> HttpResponse:
    target = request.GET.get("post_logout_redirect_uri", "")
    _log(request, "identity.logout", 302 if target else 200)
    if urlsplit(target).scheme in ("http", "https"):
        return HttpResponseRedirect(target)
    return render(request, "sandbox/ms_error.html", {"title": "You signed out of your account"})


# --- Authorization and consent -----------------------------------------------------------


def _with_params(uri: str, params: dict[str, str], fragment: bool = False) -> str:
    parts = urlsplit(uri)
    if fragment:
        return urlunsplit((*parts[:4], urlencode(params)))
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))


def _error_page(request: HttpRequest, error: AadError, operation: str) -> HttpResponse:
    _log(request, operation, error.status)
    context = {"title": "Sign in", "error": error}
    return render(request, "sandbox/ms_error.html", context, status=error.status)


def _microsoft_mailbox(address: str, tenant: Tenant | None) -> Mailbox | None:
    mailbox = selectors.mailbox_by_address(address) if address else None
    if mailbox is None or mailbox.provider != Provider.MICROSOFT:
        return None
    if tenant is not None and mailbox.tenant_id != tenant.pk:
        return None
    return mailbox


def _tenant_of(mailbox: Mailbox) -> Tenant:
    """A Microsoft mailbox's tenant: every one is created in the tenant of its domain."""
    assert mailbox.tenant is not None, f"{mailbox.address} has no tenant"
    return mailbox.tenant


def _admin_consented(mailbox: Mailbox, client_id: str, requested: list[str]) -> bool:
    if mailbox.tenant_id is None:
        return False  # no tenant, no administrator to have consented
    consents = AdminConsent.objects.filter(tenant_id=mailbox.tenant_id, client_id=client_id)
    return any(scopes.covers(c.scopes.split(), requested) for c in consents)


def client_info(mailbox: Mailbox) -> str:
    """MSAL's home-account hint: base64url JSON of the user's object id and tenant id."""
    data = json.dumps({"uid": object_id(mailbox), "utid": _tenant_of(mailbox).tenant_id})
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def object_id(mailbox: Mailbox) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-user:{mailbox.address}"))


def _redirect_back(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    query = request.GET
    state = {"state": query["state"]} if query.get("state") else {}
    fragment = query.get("response_mode") == "fragment"
    if query.get("response_mode") == "form_post":
        context = {"action": query["redirect_uri"], "fields": {**params, **state}}
        return render(request, "sandbox/ms_form_post.html", context)
    return HttpResponseRedirect(_with_params(query["redirect_uri"], {**params, **state}, fragment))


def _declined(request: HttpRequest, operation: str) -> HttpResponse:
    error = AadError.of("declined")
    _log(request, operation, 302)
    params = {"error": "access_denied", "error_subcode": "cancel"}
    return _redirect_back(request, {**params, "error_description": f"AADSTS65004: {error.text}"})


def _issue_code(request: HttpRequest, mailbox: Mailbox, requested: list[str]) -> HttpResponse:
    query = request.GET
    code = tokens.code_issue(
        mailbox=mailbox,
        client_id=query["client_id"],
        redirect_uri=query["redirect_uri"],
        scopes=requested,
        code_challenge=query.get("code_challenge", ""),
        code_challenge_method=query.get("code_challenge_method", ""),
        nonce=query.get("nonce", ""),
    )
    _log(request, "identity.authorize", 302, mailbox=mailbox, scopes=code.scopes)
    params = {"code": code.code}
    if query.get("client_info") == "1":
        params["client_info"] = client_info(mailbox)
    params["session_state"] = str(uuid.uuid4())
    return _redirect_back(request, params)


def _check_authorize(request: HttpRequest, tenant: str) -> Tenant | None:
    query = request.GET
    found = _tenant(tenant)
    for name in ("client_id", "redirect_uri"):
        if not query.get(name):
            raise missing_parameter(name)
    if urlsplit(query["redirect_uri"]).scheme not in ("http", "https"):
        raise AadError(
            "invalid_request",
            50011,
            "The redirect URI specified in the request "
            "does not match the redirect URIs configured for the application.",
        )
    return found


def _request_error(request: HttpRequest) -> dict[str, str] | None:
    """A malformed authorization request is answered at the app's redirect URI."""
    query = request.GET
    if query.get("response_type") != "code":
        return {"error": "unsupported_response_type"}
    if not query.get("scope", "").split():
        return {"error": "invalid_request", "error_description": str(missing_parameter("scope"))}
    if query.get("code_challenge_method", "S256") not in ("plain", "S256"):
        error = AadError("invalid_request", 50002, "Invalid code_challenge_method.")
        return {"error": "invalid_request", "error_description": str(error)}
    return None


def _consent_page(
    request: HttpRequest, operation: str, address: str, mailbox: Mailbox | None, **extra
) -> HttpResponse:
    unknown = bool(address) and mailbox is None
    status = 400 if unknown and request.method == "POST" else 200
    _log(request, operation, status, mailbox=mailbox)
    query = request.GET
    context = {
        "client_id": query["client_id"],
        "app_host": urlsplit(query["redirect_uri"]).netloc,
        "address": address,
        "mailbox": mailbox,
        "unknown": unknown,
        # An admin consents for everyone: their own earlier consent takes nothing off.
        **_permissions_shown(
            query.get("scope", "").split(),
            None if extra.get("admin") else mailbox,
            query["client_id"],
        ),
        **extra,
    }
    return render(request, "sandbox/ms_consent.html", context, status=status)


def _permissions_shown(requested: list[str], mailbox: Mailbox | None, client_id: str) -> dict:
    """Microsoft's incremental consent: the prompt lists only what the user has not yet
    consented to for this app; what they already did is not asked again."""
    earlier = set(tokens.scopes_granted(mailbox=mailbox, client_id=client_id)) if mailbox else set()
    return {
        "permissions": [scopes.describe(s) for s in requested if s not in earlier],
        "already_consented": [scopes.describe(s) for s in requested if s in earlier],
    }


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, tenant: str) -> HttpResponse:
    """The consent page. Accept redirects back with a code, Cancel with access_denied; a
    client an administrator consented to for the user's tenant skips the page."""
    try:
        found = _check_authorize(request, tenant)
    except AadError as error:
        return _error_page(request, error, "identity.authorize")
    refused = _request_error(request)
    if refused is not None:
        _log(request, "identity.authorize", 302)
        return _redirect_back(request, refused)
    query = request.GET
    requested = query["scope"].split()
    address = request.POST.get("address") or query.get("login_hint", "")
    mailbox = _microsoft_mailbox(address, found)
    if request.method == "POST" and request.POST.get("decision") == "cancel":
        return _declined(request, "identity.authorize")
    if mailbox is not None and (
        request.method == "POST"
        or (
            query.get("prompt") != "consent"
            and _admin_consented(mailbox, query["client_id"], requested)
        )
    ):
        return _issue_code(request, mailbox, requested)
    return _consent_page(request, "identity.authorize", address, mailbox)


@require_http_methods(["GET", "POST"])
def admin_consent(request: HttpRequest, tenant: str) -> HttpResponse:
    """Tenant-wide consent by an administrator (v1 `adminconsent` asks for everything the
    app is configured for; v2 names its `scope`). Accept redirects back with
    admin_consent=True and the tenant id."""
    try:
        found = _check_authorize(request, tenant)
    except AadError as error:
        return _error_page(request, error, "identity.adminconsent")
    query = request.GET
    requested = query.get("scope", "").split()
    address = request.POST.get("address") or query.get("login_hint", "")
    admin = _microsoft_mailbox(address, found)
    if request.method == "POST" and request.POST.get("decision") == "cancel":
        return _declined(request, "identity.adminconsent")
    if request.method == "POST" and admin is not None:
        admin_tenant = _tenant_of(admin)
        services.admin_consent_grant(
            tenant=admin_tenant, client_id=query["client_id"], scopes=requested
        )
        _log(request, "identity.adminconsent", 302, mailbox=admin, scopes=" ".join(requested))
        params = {"admin_consent": "True", "tenant": admin_tenant.tenant_id}
        if requested:
            params["scope"] = " ".join(requested)
        return _redirect_back(request, params)
    return _consent_page(request, "identity.adminconsent", address, admin, tenant=found, admin=True)


# --- Token endpoint ----------------------------------------------------------------------


def _client_credentials(request: HttpRequest) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return client_id, secret
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


def _b64_json(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def id_token(request: HttpRequest, mailbox: Mailbox, client_id: str, nonce: str) -> str:
    """An unsigned JWT with the claims MSAL reads (oid, tid, preferred_username, name)
    and checks (aud, iss, exp, nonce)."""
    now = int(time.time())
    tenant_id = _tenant_of(mailbox).tenant_id
    claims = {
        "aud": client_id,
        "iss": _issuer(request, tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + ID_TOKEN_SECONDS,
        "name": mailbox.display_name or mailbox.address,
        "oid": object_id(mailbox),
        "preferred_username": mailbox.address,
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{object_id(mailbox)}:{client_id}")),
        "tid": tenant_id,
        "ver": "2.0",
    }
    if nonce:
        claims["nonce"] = nonce
    return f"{_b64_json({'typ': 'JWT', 'alg': 'none'})}.{_b64_json(claims)}."


def _exchange(request: HttpRequest, client_id: str, secret: str) -> tokens.IssuedTokens:
    form = request.POST
    grant_type = form.get("grant_type", "")
    if grant_type == "authorization_code":
        for name in ("code", "redirect_uri"):
            if not form.get(name):
                raise missing_parameter(name)
        if not secret and not form.get("code_verifier"):
            raise AadError.of("no_secret")
        return tokens.code_exchange(
            code=form["code"],
            client_id=client_id,
            redirect_uri=form["redirect_uri"],
            code_verifier=form.get("code_verifier", ""),
        )
    if grant_type == "refresh_token":
        if not form.get("refresh_token"):
            raise missing_parameter("refresh_token")
        grant = tokens.refresh_token_redeem(
            refresh_token=form["refresh_token"], client_id=client_id
        )
        requested = form.get("scope", "").split()
        if not scopes.covers(grant.scope_list, requested):
            raise AadError.of("not_consented")
        wanted = [s for s in requested if scopes.normalize(s) not in scopes.RESERVED]
        access = tokens.token_issue(grant=grant, scopes=wanted or None)
        return tokens.IssuedTokens(access, None, grant.scope_list)
    raise AadError(
        "unsupported_grant_type",
        70003,
        f"The app requested an unsupported grant type '{grant_type}'.",
    )


@csrf_exempt
@require_http_methods(["POST"])
def token(request: HttpRequest, tenant: str) -> HttpResponse:
    started = time.perf_counter()
    grant_type = request.POST.get("grant_type", "") or "unknown"
    operation = f"identity.token.{grant_type}"
    client_id, secret = _client_credentials(request)
    try:
        found = _tenant(tenant)
        if not client_id:
            raise missing_parameter("client_id")
        issued = _exchange(request, client_id, secret)
        grant = issued.access_token.grant
        if found is not None and grant.mailbox.tenant_id != found.pk:
            raise AadError.of("code_unknown")
    except tokens.OAuthError as error:
        return _aad_json(request, AadError.of(error.reason or "malformed"), operation)
    except AadError as error:
        return _aad_json(request, error, operation)
    mailbox, access = grant.mailbox, issued.access_token
    # The token's Graph permissions plus the OpenID scopes; offline_access is implied by
    # the refresh token rather than listed.
    resource = [s for s in access.scope_list if scopes.normalize(s) not in scopes.RESERVED]
    oidc = [s for s in grant.scope_list if scopes.normalize(s) in {"openid", "profile", "email"}]
    payload = {
        "token_type": "Bearer",
        "scope": " ".join(dict.fromkeys([*resource, *oidc])),
        "expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "ext_expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "access_token": access.token,
    }
    normalized = {scopes.normalize(s) for s in grant.scope_list}
    if "offline_access" in normalized:
        payload["refresh_token"] = tokens.refresh_token_issue(grant=grant)
    if "openid" in normalized:
        payload["id_token"] = id_token(request, mailbox, client_id, issued.nonce)
    if request.POST.get("client_info") == "1":
        payload["client_info"] = client_info(mailbox)
    duration = (time.perf_counter() - started) * 1000
    _log(request, operation, 200, mailbox=mailbox, scopes=access.scopes, duration_ms=duration)
    return json_response(payload, headers={"Cache-Control": "no-store"}, content_type=OAUTH_JSON)
