"""Request size limits decided by path, before anything reads the body; the
Content-Security-Policy of every response."""

import logging
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme

logger = logging.getLogger(__name__)
INBOUND_PATH_PREFIX = "/anymail/"
SANDBOX_PATH_PREFIX = "/sandbox/"
# Set on the page an oversized upload came from, which then says why nothing was sent.
UPLOAD_TOO_LARGE_PARAMETER = "upload-too-large"


class RequestSizeLimits:
    """Inbound mail posts may carry a 25 MB message; nothing else needs more than an upload
    form does. Oversized inbound posts get 406, which tells Mailgun not to retry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("Invalid Content-Length.", status=400, content_type="text/plain")
        if request.path.startswith(INBOUND_PATH_PREFIX):
            limit = settings.INBOUND_MAX_MESSAGE_BYTES + settings.INBOUND_POST_OVERHEAD_BYTES
            if length > limit:
                logger.warning("Inbound post refused: %d bytes is over %d", length, limit)
                return HttpResponse(
                    f"Message too large: Threadline accepts messages up to "
                    f"{settings.INBOUND_MAX_MESSAGE_BYTES} bytes.",
                    status=406,
                    content_type="text/plain",
                )
            return self.get_response(request)
        if settings.SANDBOX and request.path.startswith(SANDBOX_PATH_PREFIX):
            # The provider emulation enforces the providers' own limits and answers.
            return self.get_response(request)
        is_upload = request.content_type == "multipart/form-data"
        limit = settings.UPLOAD_POST_MAX_BYTES if is_upload else settings.FORM_POST_MAX_BYTES
        if length > limit:
            if is_upload:
                return _back_to_the_form(request)
            return HttpResponse("Request too large.", status=413, content_type="text/plain")
        return self.get_response(request)


def _back_to_the_form(request: HttpRequest) -> HttpResponse:
    """An upload too large to read: back (303, unread) to the page whose form sent it,
    flagged, so that page says why; the browser restores what was typed. Without a
    same-site page to go back to, a plain refusal."""
    referer = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponse(
            "The files attached are larger than Threadline accepts.",
            status=413,
            content_type="text/plain",
        )
    parts = urlsplit(referer)
    query = "&".join(p for p in parts.query.split("&") if p and p != UPLOAD_TOO_LARGE_PARAMETER)
    query = f"{query}&{UPLOAD_TOO_LARGE_PARAMETER}" if query else UPLOAD_TOO_LARGE_PARAMETER
    return HttpResponseRedirect(urlunsplit(parts._replace(query=query)), status=303)


# "Sign in with Google / Microsoft" (allauth) sends the browser to these, when configured.
GOOGLE_SIGN_IN_ORIGIN = "https://accounts.google.com"
MICROSOFT_SIGN_IN_ORIGIN = "https://login.microsoftonline.com"


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme in {"http", "https"} and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def provider_consent_origins() -> list[str]:
    """The providers' consent and sign-in pages that our own forms redirect to."""
    urls = [
        settings.GOOGLE_AUTH_URI,
        settings.MICROSOFT_AUTHORITY_HOST,
        settings.MICROSOFT_LOGIN_PAGE_HOST,
        GOOGLE_SIGN_IN_ORIGIN if settings.GOOGLE_OAUTH_CLIENT_ID else "",
        MICROSOFT_SIGN_IN_ORIGIN if settings.MICROSOFT_OAUTH_CLIENT_ID else "",
    ]
    return sorted({origin for url in urls if (origin := _origin(url))})


class ContentSecurityPolicy(CSPMiddleware):
    """django-csp's middleware (CONTENT_SECURITY_POLICY in settings), with `form-action`
    extended by the providers' consent pages: connecting a mailbox, granting admin consent
    and signing in with Google or Microsoft are form posts answered by a redirect to the
    provider, and browsers hold the redirect of a form post to `form-action`. Read on every
    response, so the endpoints follow the settings (the tests point them at the sandbox)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), *provider_consent_origins()]
            parts.update = update
        return parts
