"""What every Google API client of ours shares (Gmail here, Calendar in interviews): the
discovery document with its root replaced, the stored credentials, refreshed tokens
written back, and Google's errors turned into ProviderError.

Each client is built from the discovery document google-api-python-client ships, with
its `rootUrl` replaced by GOOGLE_API_ROOT: `new_batch_http_request()` and media uploads
read the document's root rather than `client_options.api_endpoint`, so patching the
document is the one way to keep every call on the configured host (the sandbox in demo
and tests).
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import google.auth.exceptions
import google_auth_httplib2
import googleapiclient
import httplib2
from django.conf import settings
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from mailsync.providers.base import ProviderError, TokenStore
from mailsync.providers.http import error_for_status, retry_after_seconds, with_retries

T = TypeVar("T")
_DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


@cache
def discovery_document(name: str, root: str) -> str:
    """The shipped discovery document `name` (e.g. "gmail.v1.json") served from `root`."""
    document = json.loads((_DOCUMENTS / name).read_text())
    root = root if root.endswith("/") else root + "/"
    document["rootUrl"] = document["baseUrl"] = document["mtlsRootUrl"] = root
    return json.dumps(document)


def error_from_http(error: HttpError) -> ProviderError:
    try:
        detail = json.loads(error.content or b"{}").get("error", {})
    except (ValueError, AttributeError):
        detail = {}
    reasons = {e.get("reason", "") for e in detail.get("errors", []) if isinstance(e, dict)}
    return error_for_status(
        error.resp.status,
        detail.get("message") or str(error),
        reason=",".join(sorted(reasons)),
        retry_after=retry_after_seconds(error.resp.get("retry-after")),
        # Google answers some rate limits with 403 and says so in the reason.
        throttled=bool(reasons & {"rateLimitExceeded", "userRateLimitExceeded"}),
    )


def translate(call: Callable[[], T]) -> T:
    """Run one Google call, its failures turned into ProviderError."""
    try:
        return call()
    except HttpError as error:
        raise error_from_http(error) from error
    except google.auth.exceptions.RefreshError as error:
        text = str(error)
        if "invalid_grant" in text or "invalid_client" in text:
            raise ProviderError(text, permanent=True, reason="invalid_grant") from error
        raise ProviderError(text, permanent=False, reason="refresh_failed") from error
    except (TimeoutError, httplib2.HttpLib2Error, ConnectionError, OSError) as e:
        raise ProviderError(f"Network error: {e}", permanent=False, reason="network") from e


def serialise(credentials: Credentials) -> dict[str, Any]:
    return {
        "token": credentials.token,
        "refresh_token": credentials.refresh_token,
        "expiry": credentials.expiry.replace(tzinfo=UTC).isoformat()
        if credentials.expiry
        else None,
        "scopes": list(credentials.scopes or []),
    }


def credentials_from(stored: dict[str, Any]) -> Credentials:
    expiry = stored.get("expiry")
    return Credentials(  # type: ignore[no-untyped-call]  # google-auth leaves __init__ unannotated
        token=stored.get("token"),
        refresh_token=stored.get("refresh_token"),
        token_uri=settings.GOOGLE_TOKEN_URI,
        client_id=settings.GOOGLE_MAIL_CLIENT_ID,
        client_secret=settings.GOOGLE_MAIL_CLIENT_SECRET,
        scopes=stored.get("scopes") or None,
        # google-auth compares expiry with a naive UTC clock.
        expiry=datetime.fromisoformat(expiry).astimezone(UTC).replace(tzinfo=None)
        if expiry
        else None,
    )


class GoogleClient:
    """One connection's client for one Google API: `service` is the library's resource
    built from the shipped document; `execute` runs a request with our retries and keeps
    a refreshed token."""

    def __init__(self, document: str, stored: dict[str, Any], *, store: TokenStore | None) -> None:
        self.credentials = credentials_from(stored)
        self._token = self.credentials.token
        self._store = store
        http = google_auth_httplib2.AuthorizedHttp(
            self.credentials, http=httplib2.Http(timeout=settings.MAILSYNC_HTTP_TIMEOUT)
        )
        self.service: Resource = build_from_document(
            discovery_document(document, settings.GOOGLE_API_ROOT), http=http
        )

    def execute(self, request: HttpRequest, *, what: str, quota_units: int = 0) -> dict[str, Any]:
        # Every method we call answers a JSON object (or nothing: a delete).
        result: dict[str, Any] | None = with_retries(
            lambda: translate(request.execute), what=what, quota_units=quota_units
        )
        self.persist_refresh()
        return result or {}

    def persist_refresh(self) -> None:
        if self.credentials.token != self._token:
            self._token = self.credentials.token
            # Google hands out any number of valid access tokens, so refreshes need no
            # lock here; the new one is simply kept for the next run.
            if self._store is not None:
                self._store.save(serialise(self.credentials))
