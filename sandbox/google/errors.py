"""Gmail's error bodies, as Google's front end returns them."""

import json
from dataclasses import dataclass, field

from django.http import HttpResponse

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class GmailError(Exception):
    code: int
    message: str
    reason: str
    domain: str = "global"
    # The message of the inner `errors` item when Google words it differently.
    item_message: str = ""
    extra_item: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    def body(self) -> dict:
        item = {
            "message": self.item_message or self.message,
            "domain": self.domain,
            "reason": self.reason,
            **self.extra_item,
        }
        error: dict = {"code": self.code, "message": self.message, "errors": [item]}
        # Google's front end names the canonical status of the codes it maps to one; the
        # Calendar API's 410 (a sync token gone, an event already deleted) has none.
        if self.code in _STATUS:
            error["status"] = _STATUS[self.code]
        return {"error": error}


def unauthenticated() -> GmailError:
    return GmailError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        item_message="Invalid Credentials",
        extra_item={"location": "Authorization", "locationType": "header"},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def insufficient_scopes(required: list[str]) -> GmailError:
    return GmailError(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        item_message="Insufficient Permission",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            f'error="insufficient_scope", scope="{" ".join(required)}"'
        },
    )


def forbidden(message: str) -> GmailError:
    return GmailError(403, message, "forbidden")


def not_found() -> GmailError:
    return GmailError(404, "Requested entity was not found.", "notFound")


def invalid_argument(message: str) -> GmailError:
    return GmailError(400, message, "invalidArgument")


def failed_precondition(message: str) -> GmailError:
    return GmailError(400, message, "failedPrecondition")


def rate_limited(retry_at_iso: str, retry_after: int) -> GmailError:
    return GmailError(
        429,
        f"User-rate limit exceeded.  Retry after {retry_at_iso}",
        "rateLimitExceeded",
        domain="usageLimits",
        headers={"Retry-After": str(retry_after)},
    )


def injected(status: int, *, retry_after: int = 1) -> GmailError:
    if status == 429:
        return GmailError(
            429,
            "Resource has been exhausted (e.g. check quota).",
            "rateLimitExceeded",
            headers={"Retry-After": str(retry_after)},
        )
    if status == 503:
        return GmailError(503, "The service is currently unavailable.", "backendError")
    return GmailError(500, "Internal error encountered.", "backendError")


def json_response(payload: dict | list, status: int = 200, headers: dict | None = None):
    response = HttpResponse(json.dumps(payload), status=status, content_type=JSON_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
