"""Error bodies of Microsoft's two front ends: the identity platform's OAuth errors (with
AADSTS codes) and Microsoft Graph's `{"error": {"code", "message", "innerError"}}`."""

import json
import uuid
from dataclasses import dataclass, field

from django.http import HttpResponse
from django.utils import timezone

GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
OAUTH_JSON = "application/json; charset=utf-8"

# AADSTS codes and Microsoft's wording, keyed by the reason the sandbox refuses.
AADSTS: dict[str, tuple[str, int, str]] = {
    "code_unknown": (
        "invalid_grant",
        70000,
        "The provided value for the 'code' parameter is not valid.",
    ),
    "code_used": (
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
        "or use an existing refresh token.",
    ),
    "code_expired": (
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. "
        "Send a new interactive authorization request for this user and resource.",
    ),
    "client_mismatch": (
        "invalid_grant",
        70000,
        "The provided value for the 'code' parameter is not valid. The code was issued to "
        "another client.",
    ),
    "redirect_mismatch": (
        "invalid_grant",
        500112,
        "The reply address does not match the reply address provided when requesting "
        "Authorization code.",
    ),
    "verifier_missing": (
        "invalid_request",
        50148,
        "The code_verifier does not match the code_challenge supplied in the authorization "
        "request for PKCE.",
    ),
    "verifier_mismatch": (
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization "
        "request.",
    ),
    "malformed": ("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."),
    "revoked": (
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is "
        "needed. The user might have changed or reset their password.",
    ),
    "client": (
        "invalid_grant",
        70000,
        "The provided value for the 'refresh_token' parameter is not valid. The token was "
        "issued to another client.",
    ),
    "not_consented": (
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application. Send an "
        "interactive authorization request for this user and resource.",
    ),
    "no_secret": (
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    ),
    "declined": ("access_denied", 65004, "User declined to consent to access the app."),
    "consumers": (
        "invalid_request",
        500200,
        "User account is a personal Microsoft account. Personal Microsoft accounts are not "
        "supported by the sandbox.",
    ),
}


class AadError(Exception):
    """An identity-platform refusal: OAuth `error`, AADSTS number and description."""

    def __init__(self, error: str, code: int, text: str, status: int = 400):
        super().__init__(f"AADSTS{code}: {text}")
        self.error, self.code, self.text, self.status = error, code, text, status

    @classmethod
    def of(cls, reason: str, status: int | None = None) -> "AadError":
        error, code, text = AADSTS[reason]
        return cls(error, code, text, status or (401 if error == "invalid_client" else 400))

    def body(self, correlation_id: str = "") -> dict:
        trace_id = str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.text} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


def missing_parameter(name: str) -> AadError:
    return AadError(
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def unknown_tenant(tenant: str) -> AadError:
    return AadError(
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


@dataclass
class GraphError(Exception):
    status: int
    code: str
    message: str
    headers: dict = field(default_factory=dict)

    def body(self, request_id: str, client_request_id: str = "") -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": timezone.now().strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": client_request_id or request_id,
                },
            }
        }


def unauthenticated(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoft'
            'online.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-'
            '000000000000"'
        },
    )


def access_denied() -> GraphError:
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def unsupported_query(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidUrlQuery", message)


def throttled(message: str, retry_after: int) -> GraphError:
    return GraphError(
        429, "ApplicationThrottled", message, headers={"Retry-After": str(retry_after)}
    )


def injected(status: int, *, retry_after: int = 1) -> GraphError:
    if status == 429:
        return throttled("Application is over its MailboxConcurrency limit.", retry_after)
    if status == 503:
        return GraphError(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable for maintenance or is overloaded.",
            headers={"Retry-After": "1"},
        )
    return GraphError(500, "generalException", "An unspecified error has occurred.")


def json_response(
    payload: dict | list,
    status: int = 200,
    headers: dict | None = None,
    *,
    content_type: str = GRAPH_JSON,
) -> HttpResponse:
    response = HttpResponse(json.dumps(payload), status=status, content_type=content_type)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
