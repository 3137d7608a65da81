"""Gmail through google-api-python-client and google-auth-oauthlib.

The client is built from the discovery document the library ships, with its `rootUrl`
replaced by GOOGLE_API_ROOT: `new_batch_http_request()` and media uploads read the
document's root rather than `client_options.api_endpoint`, so patching the document is
the one way to keep every call on the configured host (the sandbox in demo and tests).
"""

import base64
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import google.auth.exceptions
import google_auth_httplib2
import googleapiclient
import httplib2
import requests
from django.conf import settings
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from mailsync.providers.base import (
    Authorization,
    ChangePage,
    CursorExpired,
    MailboxSession,
    MailProvider,
    MessageRef,
    NotFound,
    ProviderError,
    RawMessage,
    SentMessage,
    TokenStore,
)
from mailsync.providers.http import (
    error_for_status,
    pages,
    retry_after_seconds,
    run_batches,
    with_retries,
)

T = TypeVar("T")
# What Gmail answers for one message of a batch; None where the message is gone.
BatchAnswer = dict[str, Any] | None

SCOPE_SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPE_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
SCOPE_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
SCOPES_BY_LEVEL = {
    # Read headers and bodies, send, and add our own label (modify covers all three).
    "full": [SCOPE_MODIFY, SCOPE_SEND],
    # Send only. gmail.send cannot read even the mailbox's own address (getProfile), so
    # the address comes from the userinfo endpoint, which reads nothing of the mail.
    "limited": [SCOPE_SEND, SCOPE_EMAIL],
}
# Gmail puts it on every message the mailbox's owner sent, and on no other.
SENT_LABEL = "SENT"
REFERENCE_HEADERS = ["Message-ID", "In-Reply-To", "References", "X-Threadline-Ref"]
# Partial responses (Google's `fields` parameter): each call asks for what we read and no
# more. For headers-only checks this is privacy, not thrift: format=metadata also carries
# the message's `snippet`, a few words of the body of mail that is none of our business.
FIELDS_HISTORY = "history/messagesAdded/message(id,threadId,labelIds),nextPageToken,historyId"
FIELDS_HEADERS = "payload/headers"
# The labels say whether the owner sent it; internalDate backs up an impossible Date.
FIELDS_RAW = "raw,labelIds,internalDate"
FIELDS_REFS = "messages(id,threadId,labelIds)"
FIELDS_LIST = "messages(id,threadId),nextPageToken"
FIELDS_PROFILE = "emailAddress,historyId"
FIELDS_IDS = "id,threadId"
FIELDS_ID = "id"
FIELDS_LABELS = "labels(id,name)"
# Gmail's quota units: modify costs 5 per message, batchModify 50 per call of up to
# 1000 ids. Below 10 messages per-message modifies (in one HTTP batch) cost less.
MODIFY_UNITS, BATCH_MODIFY_UNITS, BATCH_MODIFY_MAX_IDS = 5, 50, 1000
_DISCOVERY = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
)


@cache
def _discovery_document(root: str) -> str:
    document = json.loads(_DISCOVERY.read_text())
    root = root if root.endswith("/") else root + "/"
    document["rootUrl"] = document["baseUrl"] = document["mtlsRootUrl"] = root
    return json.dumps(document)


def _client_config() -> dict[str, Any]:
    return {
        "web": {
            "client_id": settings.GOOGLE_MAIL_CLIENT_ID,
            "client_secret": settings.GOOGLE_MAIL_CLIENT_SECRET,
            "auth_uri": settings.GOOGLE_AUTH_URI,
            "token_uri": settings.GOOGLE_TOKEN_URI,
        }
    }


def _allow_sandbox_transport() -> None:
    # oauthlib refuses http:// token endpoints; only the local sandbox serves plain HTTP,
    # and production settings refuse SANDBOX=1.
    if settings.SANDBOX and settings.GOOGLE_TOKEN_URI.startswith("http://"):
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    # Google may grant fewer scopes than asked (granular consent); we check them ourselves.
    os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"  # noqa: S105 (a flag, not a secret)


def _error_from_http(error: HttpError) -> ProviderError:
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
        # Gmail answers some rate limits with 403 and says so in the reason.
        throttled=bool(reasons & {"rateLimitExceeded", "userRateLimitExceeded"}),
    )


def _translate(call: Callable[[], T]) -> T:
    try:
        return call()
    except HttpError as error:
        raise _error_from_http(error) from error
    except google.auth.exceptions.RefreshError as error:
        text = str(error)
        if "invalid_grant" in text or "invalid_client" in text:
            raise ProviderError(text, permanent=True, reason="invalid_grant") from error
        raise ProviderError(text, permanent=False, reason="refresh_failed") from error
    except (TimeoutError, httplib2.HttpLib2Error, ConnectionError, OSError) as e:
        raise ProviderError(f"Network error: {e}", permanent=False, reason="network") from e


class GmailProvider(MailProvider):
    name = "google"

    def scopes_for(self, level: str) -> list[str]:
        return list(SCOPES_BY_LEVEL[level])

    def _flow(self, scopes: list[str], redirect_uri: str, **kwargs: Any) -> Flow:
        _allow_sandbox_transport()
        return Flow.from_client_config(
            _client_config(), scopes=scopes, redirect_uri=redirect_uri, **kwargs
        )

    def authorization_url(
        self, *, redirect_uri: str, scopes: list[str], login_hint: str = ""
    ) -> tuple[str, str, str]:
        flow = self._flow(scopes, redirect_uri, autogenerate_code_verifier=True)
        extra = {"login_hint": login_hint} if login_hint else {}
        url, state = flow.authorization_url(
            access_type="offline", prompt="consent", include_granted_scopes="false", **extra
        )
        return url, state, flow.code_verifier

    def exchange_code(
        self,
        *,
        redirect_uri: str,
        callback_params: dict[str, str],
        flow_state: str,
        scopes: list[str],
    ) -> Authorization:
        flow = self._flow(
            scopes, redirect_uri, state=callback_params.get("state"), code_verifier=flow_state
        )
        try:
            flow.fetch_token(code=callback_params.get("code", ""))
        except Exception as error:  # oauthlib raises many types; each means "no tokens"
            raise ProviderError(
                f"Google refused the authorization: {error}", permanent=True, reason="exchange"
            ) from error
        credentials = flow.credentials
        granted = sorted(credentials.granted_scopes or flow.oauth2session.token.get("scope", []))
        stored = _serialise(credentials)
        if SCOPE_MODIFY not in granted:
            return Authorization(
                account_address=_userinfo_address(credentials.token),
                credentials=stored,
                granted_scopes=granted,
                cursor="",
            )
        profile = self.open(stored).profile()
        return Authorization(
            account_address=profile["emailAddress"].lower(),
            credentials=stored,
            granted_scopes=granted,
            cursor=str(profile["historyId"]),
        )

    def revoke(self, credentials: dict[str, Any]) -> None:
        token = credentials.get("refresh_token") or credentials.get("token")
        try:
            response = requests.post(
                settings.GOOGLE_REVOKE_URI,
                data={"token": token},
                timeout=settings.MAILSYNC_HTTP_TIMEOUT,
            )
        except requests.RequestException as error:
            raise ProviderError(f"Revoke failed: {error}", permanent=False) from error
        # 400 invalid_token: already revoked or expired, which is what we wanted.
        if response.status_code >= 500:
            raise ProviderError("Revoke failed", permanent=False, status=response.status_code)

    def open(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> "GmailSession":
        return GmailSession(credentials, store=store)


def _userinfo_address(token: str) -> str:
    try:
        response = requests.get(
            settings.GOOGLE_USERINFO_URI,
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.MAILSYNC_HTTP_TIMEOUT,
        )
        response.raise_for_status()
        address: str = response.json().get("email", "")
    except (requests.RequestException, ValueError) as error:
        raise ProviderError(
            f"Google did not tell us the account's address: {error}", permanent=True
        ) from error
    if not address:
        raise ProviderError("Google did not grant the email address scope.", permanent=True)
    return address.lower()


def _serialise(credentials: Credentials) -> dict[str, Any]:
    return {
        "token": credentials.token,
        "refresh_token": credentials.refresh_token,
        "expiry": credentials.expiry.replace(tzinfo=UTC).isoformat()
        if credentials.expiry
        else None,
        "scopes": list(credentials.scopes or []),
    }


def _credentials(stored: dict[str, Any]) -> Credentials:
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


def _ref(message: dict[str, Any]) -> MessageRef:
    labels = tuple(message.get("labelIds", []))
    return MessageRef(
        id=message["id"], thread_id=message["threadId"], labels=labels, sent=SENT_LABEL in labels
    )


def _internal_date(milliseconds: str | None) -> datetime | None:
    """Gmail's internalDate: when Google received the message, in epoch milliseconds."""
    try:
        return datetime.fromtimestamp(int(milliseconds or "") / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


class GmailSession(MailboxSession):
    def __init__(self, stored: dict[str, Any], *, store: TokenStore | None) -> None:
        self._credentials = _credentials(stored)
        self._token = self._credentials.token
        self._store = store
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=settings.MAILSYNC_HTTP_TIMEOUT)
        )
        self._service = build_from_document(
            _discovery_document(settings.GOOGLE_API_ROOT), http=http
        )
        self._users = self._service.users()

    # -- plumbing -------------------------------------------------------------------------

    def _execute(self, request: HttpRequest, *, what: str) -> dict[str, Any]:
        # Every Gmail method we call answers a JSON object.
        result: dict[str, Any] = with_retries(lambda: _translate(request.execute), what=what)
        self._persist_refresh()
        return result

    def _persist_refresh(self) -> None:
        if self._credentials.token != self._token:
            self._token = self._credentials.token
            # Google hands out any number of valid access tokens, so refreshes need no
            # lock here; the new one is simply kept for the next run.
            if self._store is not None:
                self._store.save(_serialise(self._credentials))

    def _batched(
        self, build: Callable[[str], HttpRequest], ids: list[str], *, what: str
    ) -> dict[str, BatchAnswer]:
        """One request per id, in Gmail batches (the discovery document's batch URL)."""
        results: dict[str, BatchAnswer] = run_batches(
            ids,
            size=settings.MAILSYNC_BATCH_SIZE,
            run_batch=lambda chunk, results: self._run_batch(build, chunk, results),
            what=what,
        )
        self._persist_refresh()
        return results

    def _run_batch(
        self,
        build: Callable[[str], HttpRequest],
        chunk: list[str],
        results: dict[str, BatchAnswer],
    ) -> list[ProviderError]:
        failures: list[ProviderError] = []

        def collect(request_id: str, response: BatchAnswer, exception: Exception | None) -> None:
            if exception is None:
                results[request_id] = response
                return
            error = (
                _error_from_http(exception)
                if isinstance(exception, HttpError)
                else (ProviderError(str(exception), permanent=False))
            )
            if isinstance(error, NotFound):
                results[request_id] = None  # gone since it was listed: nothing to do
            else:
                failures.append(error)

        batch = self._service.new_batch_http_request(callback=collect)
        for message_id in chunk:
            batch.add(build(message_id), request_id=message_id)
        _translate(batch.execute)
        return failures

    # -- interface ------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        return self._execute(
            self._users.getProfile(userId="me", fields=FIELDS_PROFILE), what="getProfile"
        )

    def account_address(self) -> str:
        address: str = self.profile()["emailAddress"]
        return address.lower()

    def current_cursor(self) -> str:
        return str(self.profile()["historyId"])

    def changes_since(self, cursor: str) -> Iterator[ChangePage]:
        def fetch(page_token: str | None) -> dict[str, Any]:
            request = self._users.history().list(
                userId="me",
                startHistoryId=cursor,
                historyTypes=["messageAdded"],
                maxResults=500,
                pageToken=page_token,
                fields=FIELDS_HISTORY,
            )
            try:
                return self._execute(request, what="history.list")
            except NotFound as error:
                raise CursorExpired() from error

        for response in pages(fetch, "nextPageToken"):
            added = [
                _ref(item["message"])
                for record in response.get("history", [])
                for item in record.get("messagesAdded", [])
            ]
            last = not response.get("nextPageToken")
            # The response's historyId covers every page; hand it out with the last one only.
            yield ChangePage(added=added, cursor=str(response["historyId"]) if last else "")

    def reference_headers(self, message_ids: list[str]) -> dict[str, dict[str, str]]:
        responses = self._batched(
            lambda message_id: self._users.messages().get(
                userId="me",
                id=message_id,
                format="metadata",
                metadataHeaders=REFERENCE_HEADERS,
                fields=FIELDS_HEADERS,
            ),
            message_ids,
            what="messages.get(metadata)",
        )
        headers = {}
        for message_id, response in responses.items():
            if response is None:
                continue
            values: dict[str, str] = {}
            for header in response.get("payload", {}).get("headers", []):
                values.setdefault(header["name"].lower(), header["value"])
            headers[message_id] = values
        return headers

    def raw_messages(self, refs: list[MessageRef]) -> dict[str, RawMessage]:
        responses = self._batched(
            lambda message_id: self._users.messages().get(
                userId="me", id=message_id, format="raw", fields=FIELDS_RAW
            ),
            [ref.id for ref in refs],
            what="messages.get(raw)",
        )
        return {
            message_id: RawMessage(
                raw=base64.urlsafe_b64decode(response["raw"] + "=" * (-len(response["raw"]) % 4)),
                # The labels as they are now, whatever the listing said.
                sent=SENT_LABEL in response.get("labelIds", []),
                received_at=_internal_date(response.get("internalDate")),
            )
            for message_id, response in responses.items()
            if response is not None
        }

    def thread_messages(self, thread_id: str) -> list[MessageRef]:
        try:
            thread = self._execute(
                self._users.threads().get(
                    userId="me", id=thread_id, format="minimal", fields=FIELDS_REFS
                ),
                what="threads.get",
            )
        except NotFound:
            return []
        return [_ref(m) for m in thread.get("messages", [])]

    def search_by_address(self, address: str) -> list[MessageRef]:
        def fetch(page_token: str | None) -> dict[str, Any]:
            return self._execute(
                self._users.messages().list(
                    userId="me",
                    q=f"from:{address} OR to:{address} -in:draft",
                    maxResults=500,
                    pageToken=page_token,
                    fields=FIELDS_LIST,
                ),
                what="messages.list",
            )

        return [
            MessageRef(id=m["id"], thread_id=m["threadId"])
            for response in pages(fetch, "nextPageToken")
            for m in response.get("messages", [])
        ]

    def send(self, raw: bytes, *, thread_id: str = "", send_only: bool = False) -> SentMessage:
        # gmail.send answers with the sent copy's ids, so both levels send the same way.
        body = {"raw": base64.urlsafe_b64encode(raw).decode()}
        if thread_id:
            body["threadId"] = thread_id
        # Not retried: a send that timed out may have gone out, and must not go out twice.
        response = _translate(
            self._users.messages().send(userId="me", body=body, fields=FIELDS_IDS).execute
        )
        self._persist_refresh()
        return SentMessage(id=response["id"], thread_id=response["threadId"])

    def ensure_label(self, name: str) -> str:
        labels = self._execute(
            self._users.labels().list(userId="me", fields=FIELDS_LABELS), what="labels.list"
        )
        for label in labels.get("labels", []):
            if label["name"].lower() == name.lower():
                label_id: str = label["id"]
                return label_id
        created = self._execute(
            self._users.labels().create(
                userId="me",
                body={
                    "name": name,
                    "labelListVisibility": "labelShow",
                    "messageListVisibility": "show",
                },
                fields=FIELDS_ID,
            ),
            what="labels.create",
        )
        created_id: str = created["id"]
        return created_id

    def apply_label(self, label_id: str, message_ids: list[str]) -> None:
        """Label in chunks of up to 1000 ids, each the cheaper way in quota units: one
        batchModify (50 units) or, for fewer than 10 ids, a modify per id (5 units each)."""
        ids = list(dict.fromkeys(message_ids))
        for start in range(0, len(ids), BATCH_MODIFY_MAX_IDS):
            chunk = ids[start : start + BATCH_MODIFY_MAX_IDS]
            if len(chunk) * MODIFY_UNITS < BATCH_MODIFY_UNITS:
                self._modify_each(label_id, chunk)
            else:
                self._batch_modify(label_id, chunk)

    def _batch_modify(self, label_id: str, message_ids: list[str]) -> None:
        # Ids the mailbox no longer holds are passed over by Google, as modify's 404s were.
        self._execute(
            self._users.messages().batchModify(
                userId="me", body={"ids": message_ids, "addLabelIds": [label_id]}
            ),
            what="messages.batchModify",
        )

    def _modify_each(self, label_id: str, message_ids: list[str]) -> None:
        self._batched(
            lambda message_id: self._users.messages().modify(
                userId="me", id=message_id, body={"addLabelIds": [label_id]}, fields=FIELDS_ID
            ),
            message_ids,
            what="messages.modify",
        )
