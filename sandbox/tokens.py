"""OAuth 2 grants, authorization codes and tokens, provider-neutral.

Any client id and secret is accepted (the sandbox has no client registry), but a grant
remembers its client id and only that client may refresh it. Errors carry the OAuth error
code and description; the provider module renders them the way its provider does.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from sandbox.models import AccessToken, AuthorizationCode, Grant, Mailbox, Provider, RefreshToken

ACCESS_TOKEN_SECONDS = 3599
CODE_SECONDS = 600
EXPIRED_OR_REVOKED = "Token has been expired or revoked."
# How each provider's codes, access and refresh tokens begin (all opaque to clients).
PREFIXES: dict[str, dict[str, str]] = {
    Provider.GOOGLE: {"code": "4/0A", "access": "ya29.a0", "refresh": "1//0g"},
    Provider.MICROSOFT: {"code": "1.AXkA", "access": "EwB4A8l6BAAU", "refresh": "1.AXkAr"},
}


def _prefix(mailbox: Mailbox, kind: str) -> str:
    return PREFIXES.get(mailbox.provider, PREFIXES[Provider.GOOGLE])[kind]


class OAuthError(Exception):
    """`description` is Google's wording; `reason` names the failure for providers that
    word it differently (Microsoft's AADSTS codes)."""

    def __init__(self, error: str, description: str, status: int = 400, reason: str = ""):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.reason = reason


@dataclass
class IssuedTokens:
    access_token: AccessToken
    refresh_token: str | None
    scopes: list[str]
    # The OpenID Connect nonce of the authorization request, for the id_token.
    nonce: str = ""


def _random(prefix: str, size: int = 48) -> str:
    return prefix + secrets.token_urlsafe(size)


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def code_issue(
    *,
    mailbox: Mailbox,
    client_id: str,
    redirect_uri: str,
    scopes: list[str],
    code_challenge: str = "",
    code_challenge_method: str = "",
    offline: bool = False,
    nonce: str = "",
) -> AuthorizationCode:
    return AuthorizationCode.objects.create(
        code=_random(_prefix(mailbox, "code")),
        nonce=nonce,
        mailbox=mailbox,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=" ".join(scopes),
        code_challenge=code_challenge,
        code_challenge_method=(code_challenge_method or ("plain" if code_challenge else "")),
        offline=offline,
        expires_at=timezone.now() + timedelta(seconds=CODE_SECONDS),
    )


def _verify_pkce(code: AuthorizationCode, verifier: str) -> None:
    if not code.code_challenge:
        return
    if not verifier:
        raise OAuthError("invalid_grant", "Missing code verifier.", reason="verifier_missing")
    expected = pkce_s256(verifier) if code.code_challenge_method == "S256" else verifier
    if not hmac.compare_digest(expected, code.code_challenge):
        raise OAuthError("invalid_grant", "Invalid code verifier.", reason="verifier_mismatch")


def code_exchange(
    *, code: str, client_id: str, redirect_uri: str, code_verifier: str = ""
) -> IssuedTokens:
    with transaction.atomic():
        record = AuthorizationCode.objects.select_related("mailbox").filter(code=code).first()
        if record is None:
            raise OAuthError("invalid_grant", "Malformed auth code.", reason="code_unknown")
        if record.used_at is not None:
            raise OAuthError("invalid_grant", "Bad Request", reason="code_used")
        if record.expires_at <= timezone.now():
            raise OAuthError("invalid_grant", "Bad Request", reason="code_expired")
        if record.client_id != client_id:
            raise OAuthError("invalid_grant", "Bad Request", reason="client_mismatch")
        if record.redirect_uri != redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request", reason="redirect_mismatch")
        _verify_pkce(record, code_verifier)
        # Single use: the conditional update wins only once even under concurrency.
        if not AuthorizationCode.objects.filter(pk=record.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        ):
            raise OAuthError("invalid_grant", "Bad Request", reason="code_used")
        grant = grant_create(
            mailbox=record.mailbox,
            client_id=client_id,
            scopes=record.scopes.split(),
            offline=record.offline,
        )
        access = token_issue(grant=grant)
    return IssuedTokens(access, grant.refresh_token, grant.scope_list, nonce=record.nonce)


def scopes_granted(*, mailbox: Mailbox, client_id: str) -> list[str]:
    """Every scope the mailbox's live grants give a client, in the order first granted
    (what Google's incremental authorization adds a new request to)."""
    granted: dict[str, None] = {}
    live = Grant.objects.filter(mailbox=mailbox, client_id=client_id, revoked_at__isnull=True)
    for grant in live.order_by("pk"):
        granted.update(dict.fromkeys(grant.scope_list))
    return list(granted)


def grant_create(*, mailbox: Mailbox, client_id: str, scopes: list[str], offline: bool) -> Grant:
    return Grant.objects.create(
        mailbox=mailbox,
        client_id=client_id,
        scopes=" ".join(dict.fromkeys(scopes)),
        refresh_token=_random(_prefix(mailbox, "refresh")) if offline else None,
    )


def token_issue(*, grant: Grant, scopes: list[str] | None = None) -> AccessToken:
    return AccessToken.objects.create(
        token=_random(_prefix(grant.mailbox, "access")),
        grant=grant,
        scopes=" ".join(scopes or grant.scope_list),
        expires_at=timezone.now() + timedelta(seconds=ACCESS_TOKEN_SECONDS),
    )


def token_refresh(
    *, refresh_token: str, client_id: str, scopes: list[str] | None = None
) -> IssuedTokens:
    grant = (
        Grant.objects.select_related("mailbox")
        .filter(refresh_token=refresh_token, revoked_at__isnull=True)
        .first()
    )
    if grant is None:
        raise OAuthError("invalid_grant", EXPIRED_OR_REVOKED)
    if grant.client_id != client_id:
        raise OAuthError("unauthorized_client", "Unauthorized")
    if scopes and not set(scopes) <= set(grant.scope_list):
        raise OAuthError("invalid_scope", "Bad Request")
    access = token_issue(grant=grant, scopes=scopes)
    return IssuedTokens(access, None, access.scope_list)


def refresh_token_issue(*, grant: Grant) -> str:
    """A new Microsoft refresh token for a grant; earlier ones stay valid."""
    return RefreshToken.objects.create(
        token=_random(_prefix(grant.mailbox, "refresh")), grant=grant
    ).token


def refresh_token_redeem(*, refresh_token: str, client_id: str) -> Grant:
    """The live grant behind a Microsoft refresh token."""
    found = RefreshToken.objects.select_related("grant__mailbox").filter(token=refresh_token)
    record = next(iter(found[:1]), None)
    if record is None:
        raise OAuthError("invalid_grant", EXPIRED_OR_REVOKED, reason="malformed")
    if record.grant.revoked_at is not None:
        raise OAuthError("invalid_grant", EXPIRED_OR_REVOKED, reason="revoked")
    if record.grant.client_id != client_id:
        raise OAuthError("invalid_grant", "Unauthorized", reason="client")
    return record.grant


def grants_revoke(*, mailbox: Mailbox) -> int:
    """Revoke every grant of a mailbox (Entra's "revoke sessions"): all its refresh and
    access tokens stop working. Returns how many grants were live."""
    return Grant.objects.filter(mailbox=mailbox, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def token_revoke(*, token: str) -> Grant:
    """Revoke the grant behind an access or refresh token, and with it all its tokens."""
    grant = Grant.objects.filter(refresh_token=token).first()
    if grant is None:
        access = AccessToken.objects.select_related("grant").filter(token=token).first()
        grant = access.grant if access else None
    if grant is None or grant.revoked_at is not None:
        raise OAuthError("invalid_token", "Token expired or revoked")
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    return grant


def token_authenticate(token: str) -> AccessToken | None:
    """The live access token for a bearer string, with its grant and mailbox, or None."""
    if not token:
        return None
    # A slice, not first(): the token is unique, so ordering would be wasted work.
    found = AccessToken.objects.select_related("grant__mailbox").filter(
        token=token, grant__revoked_at__isnull=True, expires_at__gt=timezone.now()
    )[:1]
    return next(iter(found), None)


def token_expire(*, token: str) -> None:
    """Make an access token expire now (tests, the `token --expired` demo)."""
    AccessToken.objects.filter(token=token).update(expires_at=timezone.now())


def mailbox_grant_token(*, mailbox: Mailbox, scopes: list[str], client_id: str) -> AccessToken:
    """A fresh grant and access token without the consent dance (management command)."""
    offline = mailbox.provider == Provider.GOOGLE
    grant = grant_create(mailbox=mailbox, client_id=client_id, scopes=scopes, offline=offline)
    return token_issue(grant=grant)
