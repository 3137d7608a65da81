"""Google's OAuth 2 endpoints as google-auth-oauthlib's `Flow` and google-auth's
`Credentials` use them: the consent page, the token endpoint (authorization_code with
PKCE, refresh_token), revocation and userinfo."""

import base64
import binascii
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox import selectors, tokens
from sandbox.google import errors, scopes
from sandbox.models import Mailbox, Provider, RequestLog
from sandbox.requestlog import log_write


def _log(request: HttpRequest, operation: str, status: int, **fields) -> None:
    log_write(
        [
            RequestLog(
                provider=Provider.GOOGLE,
                method=request.method or "GET",
                path=request.path[:2000],
                operation=operation,
                status=status,
                **fields,
            )
        ]
    )


def _with_params(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((*parts[:3], urlencode(query), parts.fragment))


def _auth_error_page(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    _log(request, "oauth2.authorize", status)
    return render(
        request,
        "sandbox/oauth_error.html",
        {"error": "invalid_request", "message": message},
        status=status,
    )


def _google_mailbox(address: str) -> Mailbox | None:
    mailbox = selectors.mailbox_by_address(address) if address else None
    return mailbox if mailbox and mailbox.provider == Provider.GOOGLE else None


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """The consent screen. Allow redirects back with a code, Deny with access_denied."""
    params = request.GET
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    state, requested = params.get("state", ""), params.get("scope", "").split()
    if not client_id:
        return _auth_error_page(request, "Missing required parameter: client_id")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return _auth_error_page(request, "Invalid parameter value for redirect_uri")
    if not requested:
        return _auth_error_page(request, "Missing required parameter: scope")
    method = params.get("code_challenge_method", "plain" if params.get("code_challenge") else "")
    if method not in ("", "plain", "S256"):
        return _auth_error_page(request, "Invalid code_challenge_method value.")
    back = {"state": state} if state else {}
    if params.get("response_type") != "code":
        _log(request, "oauth2.authorize", 302)
        error = {"error": "unsupported_response_type", **back}
        return HttpResponseRedirect(_with_params(redirect_uri, error))

    address = request.POST.get("address") or params.get("login_hint", "")
    mailbox = _google_mailbox(address)
    # Incremental authorization: the new grant also carries what this client already
    # holds, and the consent page asks only for what is new.
    earlier: list[str] = []
    if mailbox is not None and params.get("include_granted_scopes") == "true":
        earlier = tokens.scopes_granted(mailbox=mailbox, client_id=client_id)
    granted = list(dict.fromkeys([*earlier, *requested]))
    if request.method == "POST":
        if request.POST.get("decision") == "deny":
            _log(request, "oauth2.authorize", 302, mailbox=mailbox)
            return HttpResponseRedirect(
                _with_params(redirect_uri, {"error": "access_denied", **back})
            )
        if mailbox is not None:
            code = tokens.code_issue(
                mailbox=mailbox,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scopes=granted,
                code_challenge=params.get("code_challenge", ""),
                code_challenge_method=method,
                offline=params.get("access_type") == "offline",
            )
            _log(request, "oauth2.authorize", 302, mailbox=mailbox, scopes=code.scopes)
            answer = {"code": code.code, "scope": " ".join(granted), **back}
            return HttpResponseRedirect(_with_params(redirect_uri, answer))
    unknown = bool(address) and mailbox is None
    status = 400 if unknown and request.method == "POST" else 200
    _log(request, "oauth2.authorize", status, mailbox=mailbox)
    context = {
        "client_id": client_id,
        "address": address,
        "mailbox": mailbox,
        "unknown": unknown,
        "scopes": [scopes.describe(scope) for scope in requested if scope not in earlier],
        "already_granted": [scopes.describe(scope) for scope in earlier],
        "redirect_host": urlsplit(redirect_uri).netloc,
    }
    return render(request, "sandbox/oauth_consent.html", context, status=status)


def _token_json(payload: dict, status: int = 200) -> HttpResponse:
    # Google marks token responses uncacheable.
    return errors.json_response(
        payload, status, {"Cache-Control": "no-cache, no-store, max-age=0", "Pragma": "no-cache"}
    )


def _client_credentials(request: HttpRequest) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


@csrf_exempt
@require_http_methods(["POST"])
def token(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    client_id, _secret = _client_credentials(request)
    grant_type = request.POST.get("grant_type", "")
    try:
        if not client_id:
            raise tokens.OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if grant_type == "authorization_code":
            for name in ("code", "redirect_uri"):
                if not request.POST.get(name):
                    raise tokens.OAuthError(
                        "invalid_request", f"Missing required parameter: {name}"
                    )
            issued = tokens.code_exchange(
                code=request.POST["code"],
                client_id=client_id,
                redirect_uri=request.POST["redirect_uri"],
                code_verifier=request.POST.get("code_verifier", ""),
            )
        elif grant_type == "refresh_token":
            if not request.POST.get("refresh_token"):
                raise tokens.OAuthError(
                    "invalid_request", "Missing required parameter: refresh_token"
                )
            issued = tokens.token_refresh(
                refresh_token=request.POST["refresh_token"],
                client_id=client_id,
                scopes=request.POST.get("scope", "").split() or None,
            )
        else:
            raise tokens.OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    except tokens.OAuthError as error:
        _log(request, f"oauth2.token.{grant_type or 'unknown'}", error.status)
        body = {"error": error.error, "error_description": error.description}
        return _token_json(body, error.status)
    access = issued.access_token
    payload = {
        "access_token": access.token,
        "expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "scope": " ".join(issued.scopes),
        "token_type": "Bearer",
    }
    if issued.refresh_token:
        payload["refresh_token"] = issued.refresh_token
    _log(
        request,
        f"oauth2.token.{grant_type}",
        200,
        mailbox=access.grant.mailbox,
        scopes=access.scopes,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
    return _token_json(payload)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("token") or request.GET.get("token", "")
    try:
        grant = tokens.token_revoke(token=value)
    except tokens.OAuthError as error:
        _log(request, "oauth2.revoke", 400)
        return _token_json({"error": error.error, "error_description": error.description}, 400)
    _log(request, "oauth2.revoke", 200, mailbox=grant.mailbox, scopes=grant.scopes)
    return _token_json({})


def userinfo(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("Authorization", "")
    access = tokens.token_authenticate(
        header[7:].strip() if header[:7].lower() == "bearer " else ""
    )
    if access is None:
        _log(request, "oauth2.userinfo", 401)
        error = errors.unauthenticated()
        return errors.json_response(error.body(), 401, error.headers)
    mailbox = access.grant.mailbox
    _log(request, "oauth2.userinfo", 200, mailbox=mailbox, scopes=access.scopes)
    payload: dict[str, object] = {"sub": str(100000000000000000000 + mailbox.pk)}
    # Google reveals the address only to a token granted the email scope.
    if {scopes.EMAIL, "email"} & set(access.scope_list):
        payload.update(email=mailbox.address, email_verified=True)
    if mailbox.display_name:
        payload["name"] = mailbox.display_name
    return errors.json_response(payload)
