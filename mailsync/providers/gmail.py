"""Gmail through google-api-python-client and google-auth-oauthlib.

The client is built from the discovery document the library ships, its root replaced by
GOOGLE_API_ROOT (mailsync.providers.google_api, shared with the Calendar client).
"""

import base64
import io
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any, TypeVar

import requests
from django.conf import settings
from google_auth_oauthlib.flow import Flow
from googleapiclient.errors import HttpError, MediaUploadSizeError
from googleapiclient.http import HttpRequest, MediaIoBaseUpload

from mailsync.providers.base import (
    Authorization,
    ChangePage,
    ContactsSession,
    CursorExpired,
    HeaderLines,
    MailboxSession,
    MailProvider,
    MessageHeaders,
    MessageRef,
    NotFound,
    ProviderError,
    QuotaCosts,
    RawMessage,
    SearchPage,
    SentMessage,
    ThreadSummary,
    TokenStore,
    thread_summary_from,
)
from mailsync.providers.calendar import CalendarSession
from mailsync.providers.google_api import GoogleClient, error_from_http, serialise, translate
from mailsync.providers.http import (
    pages,
    run_batches,
)

T = TypeVar("T")
# What Gmail answers for one message of a batch; None where the message is gone.
BatchAnswer = dict[str, Any] | None

SCOPE_SEND = "https://www.googleapis.com/auth/gmail.send"
SCOPE_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
SCOPE_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
SCOPES_BY_LEVEL = {
    # No email at all: nothing is asked for.
    "off": [],
    # Read only: headers, bodies and history. No label (that needs gmail.modify, which
    # also lets an app send), so the mailbox is left exactly as it is.
    "view": [SCOPE_READONLY],
    # Read headers and bodies, send, and add our own label (modify covers all three).
    "full": [SCOPE_MODIFY, SCOPE_SEND],
    # Send only. gmail.send cannot read even the mailbox's own address (getProfile), so
    # the address comes from the userinfo endpoint, which reads nothing of the mail.
    "limited": [SCOPE_SEND, SCOPE_EMAIL],
}
# The Calendar and Contacts boxes: each asked for on its own (incremental consent), on
# top of what the user already granted. Free/busy is its own scope: calendar.events
# does not read colleagues' busy times.
SCOPES_BY_FEATURE = {
    "calendar": [
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.freebusy",
    ],
    "contacts": [
        "https://www.googleapis.com/auth/contacts.readonly",
        "https://www.googleapis.com/auth/contacts.other.readonly",
    ],
}
# Gmail puts it on every message the mailbox's owner sent, and on no other.
SENT_LABEL = "SENT"
REFERENCE_HEADERS = ["Message-ID", "In-Reply-To", "References", "X-Threadline-Ref"]
# Partial responses (Google's `fields` parameter): each call asks for what we read and no
# more. For headers-only checks this is privacy, not thrift: format=metadata also carries
# the message's `snippet`, a few words of the body of mail that is none of our business.
# Deleted messages: their ids only (Gmail reports a message deleted for good, not one
# moved to Trash, which is a label like any other).
FIELDS_HISTORY = (
    "history(id,messagesAdded/message(id,threadId,labelIds),messagesDeleted/message/id),"
    "nextPageToken,historyId"
)
FIELDS_HEADERS = "payload/headers"
# The labels say whether the owner sent it; internalDate backs up an impossible Date.
FIELDS_RAW = "raw,labelIds,internalDate"
FIELDS_REFS = "messages(id,threadId,labelIds,internalDate)"
# Messages above this go as a media upload rather than base64 in a JSON body.
MEDIA_UPLOAD_FROM_BYTES = 5 * 1024 * 1024
FIELDS_LIST = "messages(id,threadId),nextPageToken"
FIELDS_PROFILE = "emailAddress,historyId"
FIELDS_IDS = "id,threadId"
FIELDS_ID = "id"
FIELDS_LABELS = "labels(id,name)"
# A thread search lists ids, then reads each thread's summary headers. Without `fields`
# both answers would carry the thread's and every message's snippet.
FIELDS_THREAD_IDS = "threads/id"
FIELDS_THREAD_HEADERS = "id,messages(labelIds,internalDate,payload/headers)"
SUMMARY_HEADERS = ["Subject", "From", "To", "Cc"]
# What automatic ingestion's rules read of each message of a conversation: who was on it
# and the signed reference, never the subject (nor, thanks to `fields`, the snippet).
INGESTION_HEADERS = [
    *("From", "To", "Cc", "Bcc"),
    *("Message-ID", "In-Reply-To", "References", "X-Threadline-Ref"),
]
FIELDS_CONVERSATION = "messages(id,threadId,labelIds,internalDate,payload/headers)"
# Gmail's quota units for threads.get.
THREAD_GET_UNITS = 10
# Quota units: threads.list costs 10, threads.get 10 per thread; a search of 20 threads
# costs 210 of the 15,000 a mailbox may spend per minute.
# Gmail's quota units: modify costs 5 per message, batchModify 50 per call of up to
# 1000 ids. Below 10 messages per-message modifies (in one HTTP batch) cost less.
MODIFY_UNITS, BATCH_MODIFY_UNITS, BATCH_MODIFY_MAX_IDS = 5, 50, 1000
# What each method we call costs of a user's quota, in Google's published units (Gmail
# API, "Usage limits"), for the sync round's count (mailsync.rounds, /metrics). Every
# method this module calls is listed (tests/test_metrics.py reads them from the source).
GMAIL_QUOTA_UNITS = {
    "getProfile": 1,
    "history.list": 2,
    "labels.list": 1,
    "labels.create": 5,
    "messages.get": 5,
    "messages.list": 5,
    "messages.modify": MODIFY_UNITS,
    "messages.batchModify": BATCH_MODIFY_UNITS,
    "threads.get": THREAD_GET_UNITS,
    "threads.list": 10,
}


def gmail_quota_units(what: str) -> int:
    """The units of a call named like "messages.get(raw)": its method's. A method missing
    from the table counts 0 rather than failing a round (the test keeps none missing)."""
    return GMAIL_QUOTA_UNITS.get(what.partition("(")[0], 0)


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


class GmailProvider(MailProvider):
    name = "google"

    def scopes_for(self, level: str) -> list[str]:
        return list(SCOPES_BY_LEVEL[level])

    def scopes_for_feature(self, kind: str) -> list[str]:
        return list(SCOPES_BY_FEATURE[kind])

    def _flow(self, scopes: list[str], redirect_uri: str, **kwargs: Any) -> Flow:
        _allow_sandbox_transport()
        return Flow.from_client_config(
            _client_config(), scopes=scopes, redirect_uri=redirect_uri, **kwargs
        )

    def identity_scopes(self) -> list[str]:
        return [SCOPE_EMAIL]

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        scopes: list[str],
        login_hint: str = "",
        held_scopes: list[str] | None = None,
    ) -> tuple[str, str, str]:
        # Incremental authorization: a connected account is asked only for the new scopes
        # and Google adds them to its grant (the new token holds both). Otherwise the
        # grant is exactly what is asked, with nothing carried over from an old one.
        missing = [s for s in scopes if s not in (held_scopes or [])]
        incremental = bool(held_scopes) and bool(missing)
        flow = self._flow(
            missing if incremental else scopes, redirect_uri, autogenerate_code_verifier=True
        )
        extra = {"login_hint": login_hint} if login_hint else {}
        url, state = flow.authorization_url(
            access_type="offline",
            prompt="consent",
            include_granted_scopes="true" if incremental else "false",
            **extra,
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
        stored = serialise(credentials)
        if not {SCOPE_MODIFY, SCOPE_READONLY} & set(granted):
            # Send only (or Calendar/Contacts alone): nothing that reads the mailbox.
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

    def open_contacts(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> ContactsSession:
        from mailsync.providers.google_people import PeopleSession

        return PeopleSession(credentials, store=store)

    def open_calendar(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> CalendarSession:
        from mailsync.providers.google_calendar import GoogleCalendarSession

        return GoogleCalendarSession(credentials, store=store)


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


def _ref(message: dict[str, Any]) -> MessageRef:
    labels = tuple(message.get("labelIds", []))
    return MessageRef(
        id=message["id"],
        thread_id=message["threadId"],
        labels=labels,
        sent=SENT_LABEL in labels,
        # Listed with the thread (not in history, whose messages are all new).
        received_at=_internal_date(message.get("internalDate")),
    )


def _internal_date(milliseconds: str | None) -> datetime | None:
    """Gmail's internalDate: when Google received the message, in epoch milliseconds."""
    try:
        return datetime.fromtimestamp(int(milliseconds or "") / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _header_lines(message: dict[str, Any]) -> HeaderLines:
    headers: dict[str, list[str]] = {}
    for header in message.get("payload", {}).get("headers", []):
        headers.setdefault(header["name"].lower(), []).append(header["value"])
    people = getaddresses(headers.get("from", []) + headers.get("to", []) + headers.get("cc", []))
    return HeaderLines(
        subject=next(iter(headers.get("subject", [])), ""),
        people=tuple((name, address.lower()) for name, address in people if "@" in address),
        at=_internal_date(message.get("internalDate")),
    )


def _message_headers(message: dict[str, Any], thread_id: str) -> MessageHeaders:
    headers: dict[str, list[str]] = {}
    for header in message.get("payload", {}).get("headers", []):
        headers.setdefault(header["name"].lower(), []).append(header["value"])
    people = getaddresses(
        headers.get("from", [])
        + headers.get("to", [])
        + headers.get("cc", [])
        + headers.get("bcc", [])
    )
    references = [
        value
        for name in ("message-id", "in-reply-to", "references", "x-threadline-ref")
        for value in headers.get(name, [])
    ]
    return MessageHeaders(
        id=message.get("id", ""),
        thread_id=message.get("threadId") or thread_id,
        sent=SENT_LABEL in message.get("labelIds", []),
        at=_internal_date(message.get("internalDate")),
        addresses=tuple(
            dict.fromkeys(address.lower() for _name, address in people if "@" in address)
        ),
        references=tuple(references),
    )


class GmailSession(MailboxSession):
    def __init__(self, stored: dict[str, Any], *, store: TokenStore | None) -> None:
        self._google = GoogleClient("gmail.v1.json", stored, store=store)
        self._service = self._google.service
        self._users = self._service.users()

    # -- plumbing -------------------------------------------------------------------------

    def _execute(self, request: HttpRequest, *, what: str) -> dict[str, Any]:
        return self._google.execute(request, what=what, quota_units=gmail_quota_units(what))

    def _persist_refresh(self) -> None:
        self._google.persist_refresh()

    def _batched(
        self, build: Callable[[str], HttpRequest], ids: list[str], *, what: str
    ) -> dict[str, BatchAnswer]:
        """One request per id, in Gmail batches (the discovery document's batch URL)."""
        results: dict[str, BatchAnswer] = run_batches(
            ids,
            size=settings.MAILSYNC_BATCH_SIZE,
            run_batch=lambda chunk, results: self._run_batch(build, chunk, results),
            what=what,
            quota_units_per_part=gmail_quota_units(what),
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
                error_from_http(exception)
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
        translate(batch.execute)
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
                historyTypes=["messageAdded", "messageDeleted"],
                maxResults=settings.MAILSYNC_CHANGES_PAGE_SIZE,
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
            deleted = [
                str(item["message"]["id"])
                for record in response.get("history", [])
                for item in record.get("messagesDeleted", [])
                if isinstance(item.get("message"), dict) and item["message"].get("id")
            ]
            last = not response.get("nextPageToken")
            # The response's historyId covers every page: the last one's cursor. Before
            # that, the page's newest record: history after it is what the pages to come
            # hold (startHistoryId returns the records after the one it names).
            records = response.get("history", [])
            if last or not records:
                resume = str(response["historyId"]) if last else ""
            else:
                resume = str(records[-1]["id"])
            yield ChangePage(added=added, deleted=deleted, cursor=resume, last=last)

    def messages_gone(self, message_ids: list[str]) -> set[str]:
        """Asked by id, the answer holding the id alone: not found is deleted for good.
        Gmail's history is the whole mailbox's and reports only such deletions (moves,
        archiving and Trash are label changes), so after messagesDeleted this confirms;
        after a recovery's listing it decides."""
        unique = list(dict.fromkeys(message_ids))
        if not unique:
            return set()
        found = self._batched(
            lambda message_id: self._users.messages().get(
                userId="me", id=message_id, format="minimal", fields=FIELDS_ID
            ),
            unique,
            what="messages.get(exists)",
        )
        return {message_id for message_id in unique if found.get(message_id) is None}

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

    def search_page(self, address: str, page_token: str = "") -> SearchPage:
        return self._list_page(f"from:{address} OR to:{address} -in:draft", page_token)

    def participants_search_page(
        self, addresses: list[str], since: datetime, page_token: str = ""
    ) -> SearchPage:
        """Gmail's `{...}` OR-group over every address's from/to/cc/bcc, from `since` on
        (`after:` takes epoch seconds)."""
        group = " ".join(
            f"{field}:{address}" for address in addresses for field in ("from", "to", "cc", "bcc")
        )
        return self._list_page(f"{{{group}}} after:{int(since.timestamp())} -in:draft", page_token)

    def message_id_search_page(self, message_ids: list[str], page_token: str = "") -> SearchPage:
        group = " ".join(f"rfc822msgid:{mid.strip().strip('<>')}" for mid in message_ids)
        return self._list_page(f"{{{group}}} -in:draft", page_token)

    def _list_page(self, query: str, page_token: str) -> SearchPage:
        response = self._execute(
            self._users.messages().list(
                userId="me",
                q=query,
                maxResults=500,
                pageToken=page_token or None,
                fields=FIELDS_LIST,
            ),
            what="messages.list",
        )
        return SearchPage(
            refs=[
                MessageRef(id=m["id"], thread_id=m["threadId"])
                for m in response.get("messages", [])
            ],
            next_token=response.get("nextPageToken", ""),
        )

    def conversation_headers(self, thread_ids: list[str]) -> dict[str, list[MessageHeaders]]:
        answers = self._batched(
            lambda thread_id: self._users.threads().get(
                userId="me",
                id=thread_id,
                format="metadata",
                metadataHeaders=INGESTION_HEADERS,
                fields=FIELDS_CONVERSATION,
            ),
            list(dict.fromkeys(thread_ids)),
            what="threads.get(metadata)",
        )
        found: dict[str, list[MessageHeaders]] = {}
        for thread_id, answer in answers.items():
            if not answer:
                continue  # gone since it was listed
            found[thread_id] = [
                _message_headers(message, thread_id)
                for message in answer.get("messages", [])
                if "DRAFT" not in message.get("labelIds", [])
            ]
        return found

    def quota_costs(self) -> QuotaCosts:
        # Gmail's published costs: messages.list and messages.get 5 units, batchModify 50
        # (for a whole batch). Google allows 250 units per user per second.
        return QuotaCosts(
            search_page=5,
            fetch_per_message=5,
            label_per_message=BATCH_MODIFY_UNITS / settings.MAILSYNC_BATCH_SIZE,
            per_second=settings.MAILSYNC_IMPORT_GMAIL_UNITS_PER_SECOND,
            fetch_batch=settings.MAILSYNC_BATCH_SIZE,
            thread_headers=THREAD_GET_UNITS,
        )

    def search_threads(self, text: str, *, limit: int) -> list[ThreadSummary]:
        """Gmail's own search (the `q` of its search box) over threads; drafts left out."""
        found = self._execute(
            self._users.threads().list(
                userId="me", q=f"({text}) -in:draft", maxResults=limit, fields=FIELDS_THREAD_IDS
            ),
            what="threads.list",
        )
        return self._summaries([thread["id"] for thread in found.get("threads", [])][:limit])

    def thread_summary(self, thread_id: str) -> ThreadSummary | None:
        return next(iter(self._summaries([thread_id])), None)

    def _summaries(self, thread_ids: list[str]) -> list[ThreadSummary]:
        answers = self._batched(
            lambda thread_id: self._users.threads().get(
                userId="me",
                id=thread_id,
                format="metadata",
                metadataHeaders=SUMMARY_HEADERS,
                fields=FIELDS_THREAD_HEADERS,
            ),
            thread_ids,
            what="threads.get(metadata)",
        )
        summaries = []
        for thread_id in thread_ids:
            answer = answers.get(thread_id)
            if not answer:
                continue  # gone since it was listed
            lines = [
                _header_lines(message)
                for message in answer.get("messages", [])
                if "DRAFT" not in message.get("labelIds", [])
            ]
            if lines:
                summaries.append(thread_summary_from(thread_id, lines))
        return summaries

    def send(self, raw: bytes, *, thread_id: str = "", send_only: bool = False) -> SentMessage:
        """gmail.send answers with the sent copy's ids, so both levels send the same way.
        A large message goes as a media upload (a multipart upload of message/rfc822, as
        Google advises), not base64 inside JSON; the library refuses one over the
        discovery document's 35 MB before sending it."""
        metadata = {"threadId": thread_id} if thread_id else {}
        if len(raw) > MEDIA_UPLOAD_FROM_BYTES:
            try:
                request = self._users.messages().send(
                    userId="me",
                    body=metadata,
                    fields=FIELDS_IDS,
                    media_body=MediaIoBaseUpload(io.BytesIO(raw), mimetype="message/rfc822"),
                )
            except MediaUploadSizeError as error:
                raise ProviderError(
                    f"Gmail accepts messages of at most 35 MB: {error}",
                    permanent=True,
                    status=413,
                    reason="too_large",
                ) from error
        else:
            body = {"raw": base64.urlsafe_b64encode(raw).decode(), **metadata}
            request = self._users.messages().send(userId="me", body=body, fields=FIELDS_IDS)
        # Not retried: a send that timed out may have gone out, and must not go out twice.
        response = translate(request.execute)
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
