"""Microsoft 365 through the O365 library (Microsoft Graph) and MSAL.

O365 builds its MSAL client with the fixed authority `https://login.microsoftonline.com/`
and lets MSAL run instance discovery; we hand the connection our own
ConfidentialClientApplication built from settings (instance discovery off), and a Graph
protocol whose URL comes from settings, so the demo and tests reach the sandbox. Calls O365
has no method for (mail delta, MIME drafts, $batch) go through the connection's own
`con.get/post/patch`, never a second HTTP stack.
"""

import base64
import contextlib
import email
import email.policy
import json
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import msal
import requests
from django.conf import settings
from O365 import Account
from O365.connection import Connection, MSGraphProtocol
from O365.utils.token import BaseTokenBackend
from requests.adapters import HTTPAdapter

from core.slots import SlotsBusy, slot_held
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
from mailsync.providers.http import (
    error_for_status,
    pages,
    retry_after_seconds,
    run_batches,
    with_retries,
)

GRAPH_RESOURCE = "https://graph.microsoft.com/"
SCOPES_BY_LEVEL = {
    # Send; read headers and MIME and set our category (ReadWrite); create the master
    # category once (MailboxSettings); read the mailbox's own address (User.Read), which
    # is the only From we send as. MSAL adds offline_access, openid and profile itself.
    "full": ["User.Read", "Mail.Send", "Mail.ReadWrite", "MailboxSettings.ReadWrite"],
    # Read only (no category: that needs Mail.ReadWrite), or nothing of mail at all.
    "view": ["User.Read", "Mail.Read"],
    "off": [],
    "limited": ["User.Read", "Mail.Send"],
}
# The Calendar and Contacts boxes. MSAL asks for everything the user keeps at once
# (Microsoft's incremental consent adds what was not consented yet).
SCOPES_BY_FEATURE = {
    "calendar": ["Calendars.ReadWrite"],
    "contacts": ["Contacts.Read", "People.Read"],
}
# Either lets Threadline read mail, and so take a delta cursor when authorized.
READ_SCOPES = frozenset({"Mail.Read", "Mail.ReadWrite"})
SENT_FOLDER = "sentitems"
DELETED_FOLDER = "deleteditems"
DELTA_FOLDERS = ("inbox", SENT_FOLDER)
# Whether a message left the mailbox or only its folder: its id and folder, nothing else.
EXISTS_SELECT = "id,parentFolderId"
# One request per message, paced by O365 (MAILSYNC_GRAPH_REQUEST_GAP_MS): a few at a time
# keeps an import's progress moving every second or so.
GRAPH_IMPORT_FETCH_BATCH = 4
HEADER_SELECT = "internetMessageHeaders,internetMessageId,conversationId"
# What every delta round returns: Graph keeps the first request's options in its links.
DELTA_SELECT = "id,conversationId,isDraft,receivedDateTime"
BATCH_LIMIT = 20  # Graph's JSON batching limit
# Graph's limits count requests (10,000 per ten minutes per mailbox), each part of a JSON
# batch as one: that is its quota unit.
GRAPH_REQUEST_UNITS = 1
IMMUTABLE_IDS = 'IdType="ImmutableId"'
# A thread search: ids of matching messages, then each conversation's header lines. No
# body and no bodyPreview: a search shows headers only.
SEARCH_SELECT = "id,conversationId,receivedDateTime"
SUMMARY_SELECT = "id,subject,from,toRecipients,ccRecipients,receivedDateTime,isDraft"
SEARCH_TOP = 100
# Automatic ingestion: a search lists ids and dates; a conversation's rules read who was
# on each message, where it is filed and its Message-ID (Threadline's signed reference
# when we sent it), never the subject, body or bodyPreview.
INGESTION_SEARCH_SELECT = "id,conversationId,receivedDateTime"
INGESTION_HEADERS_SELECT = (
    "id,conversationId,from,toRecipients,ccRecipients,bccRecipients,receivedDateTime,"
    "internetMessageId,parentFolderId,isDraft"
)
CONVERSATION_TOP = 100

# Graph refuses any request over 4 MB (413). A message whose MIME, base64-encoded, would
# not fit is sent as a draft without its files, which are added one by one: under 3 MB
# as a fileAttachment post (base64 in JSON, still under 4 MB), above through an upload
# session, in ranges of at most 4 MB (a multiple of 320 KiB, as Microsoft advises).
MAX_MIME_REQUEST_BYTES = 4_000_000
UPLOAD_SESSION_THRESHOLD_BYTES = 3_000_000
UPLOAD_RANGE_BYTES = 12 * 320 * 1024


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    content: bytes


def without_attachments(raw: bytes) -> tuple[bytes, list[OutgoingFile]]:
    """Our own MIME (built by mailsync.mime) without its attached files, and the files."""
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    files: list[OutgoingFile] = []
    if not message.is_multipart():
        return raw, files
    kept = []
    for part in message.get_payload():
        if isinstance(part, EmailMessage) and part.get_content_disposition() == "attachment":
            content = part.get_payload(decode=True)
            files.append(
                OutgoingFile(
                    filename=part.get_filename() or "attachment",
                    content_type=part.get_content_type(),
                    content=content if isinstance(content, bytes) else b"",
                )
            )
        else:
            kept.append(part)
    message.set_payload(kept)
    return message.as_bytes(policy=email.policy.SMTP), files


def upload_range(uploads: requests.Session, upload_url: str, content: bytes) -> None:
    """PUT the file to an upload session's URL, range by range. The URL carries its own
    token: no Authorization header goes with it (Outlook refuses one), so these requests
    go out on `uploads` (GraphClient.upload_session), not on O365's authorised session,
    with the same timeout, bounded retries and mailbox slots as every call."""
    total = len(content)
    for start in range(0, total, UPLOAD_RANGE_BYTES):
        chunk = content[start : start + UPLOAD_RANGE_BYTES]
        end = start + len(chunk) - 1

        def put(chunk: bytes = chunk, start: int = start, end: int = end) -> requests.Response:
            response = uploads.put(
                upload_url,
                data=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {start}-{end}/{total}",
                },
                timeout=settings.MAILSYNC_HTTP_TIMEOUT,
            )
            response.raise_for_status()
            return response

        def attempt(put: Callable[[], requests.Response] = put) -> requests.Response:
            return _call(put, "uploadSession.put")

        with_retries(attempt, what="uploadSession.put", quota_units=GRAPH_REQUEST_UNITS)


class UnsupportedCloud(ProviderError):
    def __init__(self, cloud: str) -> None:
        super().__init__(
            f"This Microsoft 365 tenant is in the {cloud} cloud (for example GCC High), "
            "which Threadline does not support; nothing was connected.",
            permanent=True,
            reason="unsupported_cloud",
        )


def _authority(tenant: str) -> str:
    return f"{settings.MICROSOFT_AUTHORITY_HOST.rstrip('/')}/{tenant}"


def _msal_app(
    tenant: str, cache: msal.TokenCache | None = None
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        settings.MICROSOFT_MAIL_CLIENT_ID,
        client_credential=settings.MICROSOFT_MAIL_CLIENT_SECRET,
        authority=_authority(tenant),
        instance_discovery=False,
        token_cache=cache,
        timeout=settings.MAILSYNC_HTTP_TIMEOUT,
    )


def _full_scope(scope: str) -> str:
    return scope if "://" in scope else f"{GRAPH_RESOURCE}{scope}"


def _short_scope(scope: str) -> str:
    return scope.removeprefix(GRAPH_RESOURCE)


def _error_from_response(response: requests.Response | None, fallback: str) -> ProviderError:
    if response is None:
        return ProviderError(fallback, permanent=False, reason="network")
    try:
        body = response.json()
    except ValueError:
        body = {}
    return _error_from(response.status_code, response.headers, body, fallback)


def _error_from_part(status: int, part: dict[str, Any]) -> ProviderError:
    """A failed response inside a $batch, judged like a response of its own."""
    headers = requests.structures.CaseInsensitiveDict(part.get("headers") or {})
    return _error_from(status, headers, part.get("body") or {}, f"batch part answered {status}")


def _error_from(
    status: int, headers: Mapping[str, str], body: object, fallback: str
) -> ProviderError:
    detail = body.get("error", {}) if isinstance(body, dict) else {}
    code = detail.get("code", "") if isinstance(detail, dict) else str(detail)
    message = (detail.get("message") if isinstance(detail, dict) else "") or fallback
    if status == 410:
        return CursorExpired(message)
    return error_for_status(
        status,
        message,
        reason=code,
        retry_after=retry_after_seconds(headers.get("Retry-After")),
    )


def _call(send: Callable[[], requests.Response], what: str) -> requests.Response:
    """One Graph request, its failures turned into ProviderError."""
    try:
        return send()
    except requests.HTTPError as error:
        raise _error_from_response(error.response, f"{what} failed") from error
    except requests.RequestException as error:
        raise ProviderError(f"Network error: {error}", permanent=False, reason="network") from error
    except RuntimeError as error:
        # O365 signals a failed token refresh (revoked grant) this way.
        if "Refresh token operation failed" in str(error) or "no refresh token" in str(error):
            raise ProviderError(str(error), permanent=True, reason="invalid_grant") from error
        raise


class GraphProvider(MailProvider):
    name = "microsoft"
    cancellation_carries_message = True

    def scopes_for(self, level: str) -> list[str]:
        return list(SCOPES_BY_LEVEL[level])

    def scopes_for_feature(self, kind: str) -> list[str]:
        return list(SCOPES_BY_FEATURE[kind])

    def identity_scopes(self) -> list[str]:
        return ["User.Read"]

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        scopes: list[str],
        login_hint: str = "",
        held_scopes: list[str] | None = None,
    ) -> tuple[str, str, str]:
        # Microsoft's incremental consent: MSAL asks for everything the grant should hold,
        # and the consent screen lists only what the user has not consented to yet.
        with warnings.catch_warnings():
            # MSAL recommends form_post; the callback needs the user's session cookie, which
            # browsers do not send on a cross-site POST (SameSite=Lax), and the code is
            # bound to this browser by `state` and PKCE either way.
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow = _msal_app(settings.MICROSOFT_TENANT).initiate_auth_code_flow(
                [_full_scope(s) for s in scopes],
                redirect_uri=redirect_uri,
                login_hint=login_hint or None,
                response_mode="query",
            )
        # The whole flow (state, PKCE verifier, nonce) is what the callback needs.
        return flow["auth_uri"], flow["state"], json.dumps(flow)

    def admin_consent_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        level: str = "full",
        tenant: str = "",
        extra_scopes: Sequence[str] = (),
    ) -> str:
        scopes = " ".join(_full_scope(s) for s in [*SCOPES_BY_LEVEL[level], *extra_scopes])
        host = settings.MICROSOFT_LOGIN_PAGE_HOST or settings.MICROSOFT_AUTHORITY_HOST
        return (
            f"{host.rstrip('/')}/{tenant or settings.MICROSOFT_TENANT}/v2.0/adminconsent"
            f"?client_id={quote(settings.MICROSOFT_MAIL_CLIENT_ID)}&scope={quote(scopes)}"
            f"&redirect_uri={quote(redirect_uri, safe='')}&state={quote(state)}"
        )

    def exchange_code(
        self,
        *,
        redirect_uri: str,
        callback_params: dict[str, str],
        flow_state: str,
        scopes: list[str],
    ) -> Authorization:
        backend = ConnectionTokenBackend("", store=None)
        app = _msal_app(settings.MICROSOFT_TENANT, cache=backend)
        try:
            result = app.acquire_token_by_auth_code_flow(json.loads(flow_state), callback_params)
        except (ValueError, requests.RequestException) as error:
            raise ProviderError(f"Microsoft refused: {error}", permanent=True) from error
        if "access_token" not in result:
            raise ProviderError(
                result.get("error_description") or "Microsoft refused the authorization.",
                permanent=True,
                reason=result.get("error", "exchange"),
            )
        claims = result.get("id_token_claims") or {}
        self._refuse_other_clouds(claims.get("tid", ""))
        granted = sorted(_short_scope(s) for s in result.get("scope", "").split() if s)
        credentials = {"msal_cache": backend.serialize(), "tenant": claims.get("tid", "")}
        session = self.open(credentials)
        return Authorization(
            account_address=session.account_address(),
            credentials=credentials,
            granted_scopes=granted,
            # Send-only tokens (limited sync) cannot read a delta cursor, and need none;
            # View only's Mail.Read reads one like Send & view's Mail.ReadWrite.
            cursor=session.current_cursor() if READ_SCOPES & set(granted) else "",
        )

    def _refuse_other_clouds(self, tenant: str) -> None:
        """Only the worldwide cloud: GCC High and other national clouds are refused."""
        url = f"{_authority(tenant or 'organizations')}/v2.0/.well-known/openid-configuration"
        try:
            document = requests.get(url, timeout=settings.MAILSYNC_HTTP_TIMEOUT).json()
        except (requests.RequestException, ValueError) as error:
            raise ProviderError(f"Tenant check failed: {error}", permanent=False) from error
        cloud = document.get("cloud_instance_name", "microsoftonline.com")
        if cloud != "microsoftonline.com" or document.get("tenant_region_sub_scope") in {
            "DOD",
            "DODCON",
        }:
            raise UnsupportedCloud(cloud)

    def revoke(self, credentials: dict[str, Any]) -> None:
        # Microsoft has no per-app token revocation endpoint for delegated grants; the user
        # (or their admin) removes the app under My Apps. We forget the tokens.
        return None

    def open(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> "GraphSession":
        return GraphSession(credentials, store=store)

    def open_contacts(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> ContactsSession:
        from mailsync.providers.graph_contacts import GraphContactsSession

        return GraphContactsSession(credentials, store=store)

    def open_calendar(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> CalendarSession:
        from mailsync.providers.graph_calendar import GraphCalendarSession

        return GraphCalendarSession(credentials, store=store)


class ConnectionTokenBackend(BaseTokenBackend):  # type: ignore[misc]  # O365 ships no types: its classes are Any
    """O365/MSAL token cache for one mailbox, persisted by the caller (encrypted, on the
    connection row). Refreshes are serialised across workers: the first to find the token
    expired refreshes under the store's lock; the others find the fresh token and use it."""

    def __init__(self, serialized: str, *, store: TokenStore | None, tenant: str = "") -> None:
        super().__init__()
        self._store = store
        self._tenant = tenant
        if serialized:
            self._cache = self.deserialize(serialized)

    def load_token(self) -> bool:
        has_data: bool = self.has_data
        return has_data

    def save_token(self, force: bool = False) -> bool:
        if self._store is not None:
            self._store.save({"msal_cache": self.serialize(), "tenant": self._tenant})
        return True

    def should_refresh_token(
        self, con: Connection | None = None, *, username: str | None = None
    ) -> bool | None:
        if self._store is None:
            return True
        with self._store.locked() as fresh:
            stored = fresh.get("msal_cache", "")
            if stored:
                self._cache = self.deserialize(stored)
            if not self.token_is_expired(username=username):
                return False  # another worker refreshed while we waited for the lock
            assert con is not None, "O365's Connection passes itself when it asks"
            con.refresh_token()  # saves through save_token, still under the lock
            return None


class ConfiguredGraphProtocol(MSGraphProtocol):  # type: ignore[misc]  # O365 ships no types: its classes are Any
    def __init__(self, **kwargs: Any) -> None:
        # Read by MSGraphProtocol.__init__; the class default is Microsoft's cloud host.
        self._protocol_url = settings.MICROSOFT_GRAPH_URL
        super().__init__(**kwargs)


def _mailbox_key(backend: BaseTokenBackend) -> str | None:
    """Who the tokens belong to (MSAL's home account id: the user's object id and tenant),
    which names the mailbox that Graph's per-mailbox limits count against, whichever of
    our connections or sessions the request comes from. None before any sign-in."""
    accounts = backend.get_all_accounts()
    return str(accounts[0]["home_account_id"]) if accounts else None


class MailboxSlotAdapter(HTTPAdapter):
    """Each Graph request holds one of its mailbox's MAILSYNC_GRAPH_CONCURRENT_REQUESTS
    slots while it is on the wire, so that all our processes together keep within
    Graph's four requests in flight per mailbox and app (more are answered 429).

    At the transport, the one place every request of O365's session passes, once per
    HTTP exchange: O365's pacing sleep, a token refresh (MSAL's own HTTP client, and the
    sign-in host, not Graph) and our retries' backoff all happen outside the slot."""

    def __init__(self, backend: BaseTokenBackend) -> None:
        super().__init__()
        self._backend = backend

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        # requests' Session.send passes everything but the request by keyword.
        mailbox = _mailbox_key(self._backend)
        if mailbox is None:
            # No signed-in user, so no token: the request reaches no mailbox.
            return super().send(request, *args, **kwargs)
        timeout = settings.MAILSYNC_HTTP_TIMEOUT
        limit = settings.MAILSYNC_GRAPH_CONCURRENT_REQUESTS
        try:
            with slot_held(
                f"graph:{mailbox}",
                limit=limit,
                # requests' timeout bounds each wait on the server (to connect, then
                # between reads), not the whole exchange; twice it, and a crashed
                # worker's slot is free again within a minute or so.
                seconds=2 * timeout + 5,
                # Four requests still unanswered after a whole timeout are stuck; past
                # that the wait belongs to the retries (with_retries' backoff, then the
                # task's), which this error asks for, rather than to a fifth request
                # that Graph would refuse.
                wait=timeout,
            ):
                response = super().send(request, *args, **kwargs)
                if not kwargs.get("stream"):
                    # Graph counts the request in flight until its answer is read.
                    response.content  # noqa: B018 (reads the body into the response)
                return response
        except SlotsBusy as error:
            # Worded for the mailbox's health line, where it may be shown: no slot key.
            raise ProviderError(
                f"{limit} other Microsoft Graph requests for this mailbox were still "
                f"running after {timeout:.0f}s; it will be tried again.",
                permanent=False,
                reason="throttled",
            ) from error


def slotted(session: requests.Session, backend: BaseTokenBackend) -> requests.Session:
    """`session`, its requests holding the slots of `backend`'s mailbox."""
    adapter = MailboxSlotAdapter(backend)
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)
    return session


class SlottedConnection(Connection):  # type: ignore[misc]  # O365 ships no types: its classes are Any
    def get_session(self, load_token: bool = False) -> requests.Session:
        """O365's authorised session (made once, on the first request), through our
        adapter. O365 mounts an adapter of its own only for retries, which are off."""
        return slotted(super().get_session(load_token=load_token), self.token_backend)


class SlottedAccount(Account):  # type: ignore[misc]  # O365 ships no types: its classes are Any
    connection_constructor = SlottedConnection


def o365_account(*, tenant: str, backend: ConnectionTokenBackend) -> Account:
    """An O365 Account on the configured Graph and sign-in hosts. The one place that
    reaches into O365's internals; tests/mailsync/test_o365_internals.py pins both:

    - MSGraphProtocol takes its host from the `_protocol_url` it reads in __init__, so
      ConfiguredGraphProtocol sets it first (the class default is Microsoft's cloud);
    - Connection builds its MSAL app, with Microsoft's fixed authority and instance
      discovery on, only while its `_msal_client` is None, so we hand it ours;
    - Account builds its Connection from `connection_constructor`, whose `get_session`
      makes the session every Graph request goes through (SlottedConnection)."""
    account = SlottedAccount(
        (settings.MICROSOFT_MAIL_CLIENT_ID, settings.MICROSOFT_MAIL_CLIENT_SECRET),
        auth_flow_type="authorization",
        tenant_id=tenant,
        token_backend=backend,
        protocol=ConfiguredGraphProtocol(),
        request_retries=0,  # retries are ours: bounded, and honouring Retry-After
        requests_delay=settings.MAILSYNC_GRAPH_REQUEST_GAP_MS,  # O365 paces calls
        timeout=settings.MAILSYNC_HTTP_TIMEOUT,
        default_headers={"Prefer": IMMUTABLE_IDS},
    )
    account.con._msal_client = _msal_app(tenant, cache=backend)
    return account


def _kql(text: str) -> str:
    """The user's search as one KQL query: an address is looked for among the
    participants (From, To, Cc), anything else in Graph's default properties (from,
    subject, body). Double quotes would end the query, so they are dropped."""
    words = " ".join(text.replace('"', " ").split())
    if "@" in words and " " not in words:
        return f'"participants:{words}"'
    return f'"{words}"'


def _odata_literal(value: str) -> str:
    return value.replace("'", "''")


def _header_lines(message: dict[str, Any]) -> HeaderLines:
    recipients = [message.get("from") or {}]
    recipients += message.get("toRecipients") or []
    recipients += message.get("ccRecipients") or []
    people = []
    for recipient in recipients:
        address = (recipient.get("emailAddress") or {}).get("address") or ""
        name = (recipient.get("emailAddress") or {}).get("name") or ""
        if "@" in address:
            people.append((name if name.lower() != address.lower() else "", address.lower()))
    at = _received_at(message)
    return HeaderLines(subject=message.get("subject") or "", people=tuple(people), at=at)


def _received_at(message: dict[str, Any]) -> datetime | None:
    received = message.get("receivedDateTime") or ""
    try:
        return datetime.fromisoformat(str(received).replace("Z", "+00:00"))
    except ValueError:
        return None


def _graph_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None


def _message_headers(
    message: dict[str, Any], conversation: str, sent_folder: str
) -> MessageHeaders:
    people = [message.get("from") or {}]
    for field in ("toRecipients", "ccRecipients", "bccRecipients"):
        people += message.get(field) or []
    addresses = [
        ((person.get("emailAddress") or {}).get("address") or "").lower() for person in people
    ]
    return MessageHeaders(
        id=message.get("id", ""),
        thread_id=message.get("conversationId") or conversation,
        sent=bool(sent_folder) and message.get("parentFolderId") == sent_folder,
        at=_graph_time(message.get("receivedDateTime")),
        addresses=tuple(dict.fromkeys(a for a in addresses if "@" in a)),
        references=(message.get("internetMessageId") or "",),
    )


class GraphClient:
    """One connection's Graph client, shared by mail (GraphSession) and calendar
    (mailsync.providers.graph_calendar): O365's Connection on the configured hosts with the
    connection's MSAL token cache, and requests with our retries and error translation."""

    def __init__(self, credentials: dict[str, Any], *, store: TokenStore | None) -> None:
        tenant = credentials.get("tenant") or settings.MICROSOFT_TENANT
        self.backend = ConnectionTokenBackend(
            credentials.get("msal_cache", ""), store=store, tenant=tenant
        )
        self.account = o365_account(tenant=tenant, backend=self.backend)
        self.con: Connection = self.account.con
        self.root: str = self.account.protocol.service_url

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.root}{path.lstrip('/')}"

    def upload_session(self) -> requests.Session:
        """For upload URLs, which carry their own token: no Authorization header, but the
        mailbox's request slots all the same (they go to the same mailbox, and Microsoft
        does not say they are left out of its count)."""
        return slotted(requests.Session(), self.backend)

    def _send(self, method: str, path: str, kwargs: dict[str, Any]) -> requests.Response:
        # O365 writes its default headers into the dict it is given, appending its Prefer
        # to ours: handed a caller's constant, that header grew by one value per call until
        # servers refused it (431), so each attempt gets its own copy.
        if kwargs.get("headers") is not None:
            kwargs = {**kwargs, "headers": dict(kwargs["headers"])}
        send = getattr(self.con, method)
        return send(self.url(path), **kwargs)  # type: ignore[no-any-return]

    def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        """One request, retried (429, 5xx, Retry-After) and translated. Only for requests
        that may safely run twice: a create that must not be repeated uses `call_once`."""
        return with_retries(
            lambda: _call(lambda: self._send(method, path, kwargs), what),
            what=what,
            quota_units=GRAPH_REQUEST_UNITS,
        )

    def call_once(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        return _call(lambda: self._send(method, path, kwargs), what)


class GraphSession(MailboxSession):
    def __init__(self, credentials: dict[str, Any], *, store: TokenStore | None) -> None:
        self._graph = GraphClient(credentials, store=store)
        self._con: Connection = self._graph.con
        self._folder_ids: dict[str, str] = {}

    # -- plumbing -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._graph.url(path)

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        return self._graph.request(method, path, what=what, **kwargs)

    def _batch(self, parts: list[dict[str, Any]], *, what: str) -> dict[str, dict[str, Any]]:
        """Graph JSON batches of at most 20 requests, keyed by each part's id. Parts do not
        inherit the batch's headers, so each asks for immutable ids itself."""
        by_id = {
            part["id"]: {**part, "headers": {"Prefer": IMMUTABLE_IDS, **part.get("headers", {})}}
            for part in parts
        }
        return run_batches(
            list(by_id),
            size=BATCH_LIMIT,
            run_batch=lambda chunk, results: self._run_batch([by_id[k] for k in chunk], results),
            what=what,
            quota_units_per_part=GRAPH_REQUEST_UNITS,
        )

    def _run_batch(
        self, parts: list[dict[str, Any]], results: dict[str, dict[str, Any]]
    ) -> list[ProviderError]:
        response = _call(
            lambda: self._con.post(self._url("$batch"), data={"requests": parts}), "$batch"
        )
        failures = []
        for part in response.json().get("responses", []):
            status = int(part.get("status", 500))
            if status < 300:
                results[part["id"]] = part.get("body") or {}
            elif status == 404:
                results[part["id"]] = {}  # gone since it was listed: nothing to do
            else:
                failures.append(_error_from_part(status, part))
        return failures

    # -- interface ------------------------------------------------------------------------

    def account_address(self) -> str:
        me = self._request("get", "me", what="me").json()
        return (me.get("mail") or me.get("userPrincipalName") or "").lower()

    def current_cursor(self) -> str:
        """Delta links for Inbox and Sent Items that start now: the initial round filters
        on receivedDateTime, so nothing older is listed."""
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        links: dict[str, str] = {}
        for folder in DELTA_FOLDERS:
            url = (
                f"me/mailFolders/{folder}/messages/delta?$select={DELTA_SELECT}"
                f"&$filter=receivedDateTime+ge+{since}"
            )
            for page in self._delta_pages(url):
                links[folder] = page.get("@odata.deltaLink", links.get(folder, ""))
        return json.dumps(links)

    def _delta_pages(self, url: str) -> Iterator[dict[str, Any]]:
        headers = {"Prefer": f"odata.maxpagesize={settings.MAILSYNC_CHANGES_PAGE_SIZE}"}
        yield from self._pages(url, what="messages.delta", headers=headers)

    def _pages(self, first_url: str, *, what: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a Graph listing, following @odata.nextLink."""
        return pages(
            lambda next_link: self._request(
                "get", next_link or first_url, what=what, **kwargs
            ).json(),
            "@odata.nextLink",
        )

    def changes_since(self, cursor: str) -> Iterator[ChangePage]:
        try:
            links = json.loads(cursor or "{}")
        except ValueError:
            links = None
        if not isinstance(links, dict) or set(links) != set(DELTA_FOLDERS):
            raise CursorExpired("No delta link for every folder.")
        new_links = dict(links)
        for folder in DELTA_FOLDERS:
            for page in self._delta_pages(links[folder]):
                items = [item for item in page.get("value", []) if item.get("id")]
                added = [
                    MessageRef(
                        id=item["id"],
                        thread_id=item.get("conversationId", ""),
                        sent=folder == SENT_FOLDER,
                        # Delta lists changed messages too (read, categorised, moved),
                        # however old: their age tells them from new mail.
                        received_at=_received_at(item),
                    )
                    for item in items
                    if "@removed" not in item and not item.get("isDraft")
                ]
                # Graph marks a message deleted *or moved out of the folder* alike
                # (`"@removed": {"reason": "deleted"}`; "changed" is for directory objects
                # that may come back): whichever reason, messages_gone decides.
                deleted = [str(item["id"]) for item in items if "@removed" in item]
                # A delta's nextLink resumes it where this page ended, as its deltaLink
                # does after the last page: either is the folder's place.
                new_links[folder] = page.get(
                    "@odata.deltaLink", page.get("@odata.nextLink", new_links[folder])
                )
                last = folder == DELTA_FOLDERS[-1] and "@odata.deltaLink" in page
                yield ChangePage(
                    added=added, deleted=deleted, cursor=json.dumps(new_links), last=last
                )

    def messages_gone(self, message_ids: list[str]) -> set[str]:
        """Ask for each message by its immutable id (kept across moves), its id and folder
        only. Gone: not found (deleted for good), or now in Deleted Items, where Outlook's
        Delete puts mail: a folder our deltas do not watch, so its purge would never be
        seen. Anywhere else it was moved, and stays."""
        parts = [
            {"id": mid, "method": "GET", "url": f"/me/messages/{mid}?$select={EXISTS_SELECT}"}
            for mid in dict.fromkeys(message_ids)
        ]
        if not parts:
            return set()
        found = self._batch(parts, what="messages.get(exists)")
        deleted_items = self._folder_id(DELETED_FOLDER)
        return {
            mid
            for mid in dict.fromkeys(message_ids)
            if not found.get(mid) or found[mid].get("parentFolderId") == deleted_items
        }

    def reference_headers(self, message_ids: list[str]) -> dict[str, dict[str, str]]:
        parts = [
            {"id": mid, "method": "GET", "url": f"/me/messages/{mid}?$select={HEADER_SELECT}"}
            for mid in dict.fromkeys(message_ids)
        ]
        headers = {}
        for message_id, body in self._batch(parts, what="messages.get(headers)").items():
            if not body:
                continue
            values: dict[str, str] = {}
            for header in body.get("internetMessageHeaders") or []:
                values.setdefault(header["name"].lower(), header["value"])
            values.setdefault("message-id", body.get("internetMessageId", ""))
            headers[message_id] = values
        return headers

    def raw_messages(self, refs: list[MessageRef]) -> dict[str, RawMessage]:
        # The MIME ($value) says nothing of folders: where the listing found the message
        # (Sent Items or not) is what tells whether the mailbox's owner sent it.
        raws = {}
        for ref in dict((ref.id, ref) for ref in refs).values():
            try:
                raw = self._request(
                    "get", f"me/messages/{ref.id}/$value", what="messages.get($value)"
                ).content
            except NotFound:
                continue
            raws[ref.id] = RawMessage(raw=raw, sent=ref.sent)
        return raws

    def _sent_folder_id(self) -> str:
        return self._folder_id(SENT_FOLDER)

    def _folder_id(self, well_known: str) -> str:
        """A well-known folder's id (messages name their folder by id), asked once."""
        if well_known not in self._folder_ids:
            folder = self._request(
                "get", f"me/mailFolders/{well_known}?$select=id", what="mailFolders.get"
            ).json()
            self._folder_ids[well_known] = folder.get("id", "")
        return self._folder_ids[well_known]

    def thread_messages(self, thread_id: str) -> list[MessageRef]:
        url = (
            "me/messages?$select=id,conversationId,parentFolderId,receivedDateTime&$top=100"
            f"&$filter=conversationId eq '{thread_id.replace(chr(39), chr(39) * 2)}'"
        )
        return [
            MessageRef(
                id=m["id"],
                thread_id=m["conversationId"],
                sent=m.get("parentFolderId") == self._sent_folder_id(),
                received_at=_received_at(m),
            )
            for page in self._pages(url, what="messages.list")
            for m in page["value"]
        ]

    def search_page(self, address: str, page_token: str = "") -> SearchPage:
        """Inbox and Sent Items only: mail filed in sub-folders is not searched. The token
        names the folder and Graph's @odata.nextLink within it."""
        try:
            position = json.loads(page_token) if page_token else {}
            folder_index = int(position.get("folder", 0))
            link = str(position.get("link", ""))
        except (ValueError, TypeError, AttributeError):
            folder_index, link = 0, ""  # an unreadable token starts over; ids are deduplicated
        folder = DELTA_FOLDERS[min(folder_index, len(DELTA_FOLDERS) - 1)]
        url = link or (
            f"me/mailFolders/{folder}/messages?$select=id,conversationId&$top=100"
            f'&$search="participants:{address}"'
        )
        page = self._request("get", url, what="messages.search").json()
        refs = [
            MessageRef(
                id=m["id"], thread_id=m.get("conversationId", ""), sent=folder == SENT_FOLDER
            )
            for m in page.get("value", [])
        ]
        if page.get("@odata.nextLink"):
            next_token = json.dumps({"folder": folder_index, "link": page["@odata.nextLink"]})
        elif folder_index + 1 < len(DELTA_FOLDERS):
            next_token = json.dumps({"folder": folder_index + 1, "link": ""})
        else:
            next_token = ""
        return SearchPage(refs=refs, next_token=next_token)

    def participants_search_page(
        self, addresses: list[str], since: datetime, page_token: str = ""
    ) -> SearchPage:
        """KQL `participants:` for each address, OR-ed, in Inbox and Sent Items. $search
        takes no $filter, so the date is cut here: Graph lists search results newest
        first, so a page reaching past `since` is the folder's last one."""
        kql = " OR ".join(f"participants:{address.replace(chr(34), '')}" for address in addresses)
        first = (
            f"$select={INGESTION_SEARCH_SELECT}&$top={SEARCH_TOP}"
            f"&$search={quote(chr(34) + kql + chr(34), safe='')}"
        )
        return self._folders_page(first, page_token, since=since)

    def message_id_search_page(self, message_ids: list[str], page_token: str = "") -> SearchPage:
        clause = " or ".join(
            f"internetMessageId eq '{_odata_literal(mid.strip())}'" for mid in message_ids
        )
        first = f"$select={INGESTION_SEARCH_SELECT}&$top={SEARCH_TOP}&$filter={quote(clause)}"
        return self._folders_page(first, page_token, since=None)

    def _folders_page(self, query: str, page_token: str, *, since: datetime | None) -> SearchPage:
        """One page of a listing in Inbox then Sent Items; the token names the folder and
        Graph's @odata.nextLink within it."""
        try:
            position = json.loads(page_token) if page_token else {}
            folder_index = int(position.get("folder", 0))
            link = str(position.get("link", ""))
        except (ValueError, TypeError, AttributeError):
            folder_index, link = 0, ""  # an unreadable token starts over; ids are deduplicated
        folder = DELTA_FOLDERS[min(folder_index, len(DELTA_FOLDERS) - 1)]
        url = link or f"me/mailFolders/{folder}/messages?{query}"
        page = self._request("get", url, what="messages.search").json()
        refs, reached_since = [], False
        for message in page.get("value", []):
            at = _graph_time(message.get("receivedDateTime"))
            if since is not None and at is not None and at < since:
                reached_since = True
                continue
            refs.append(
                MessageRef(
                    id=message["id"],
                    thread_id=message.get("conversationId", ""),
                    sent=folder == SENT_FOLDER,
                )
            )
        if page.get("@odata.nextLink") and not reached_since:
            next_token = json.dumps({"folder": folder_index, "link": page["@odata.nextLink"]})
        elif folder_index + 1 < len(DELTA_FOLDERS):
            next_token = json.dumps({"folder": folder_index + 1, "link": ""})
        else:
            next_token = ""
        return SearchPage(refs=refs, next_token=next_token)

    def conversation_headers(self, thread_ids: list[str]) -> dict[str, list[MessageHeaders]]:
        conversations = list(dict.fromkeys(thread_ids))
        parts = [
            {
                "id": str(index),
                "method": "GET",
                "url": (
                    f"/me/messages?$select={INGESTION_HEADERS_SELECT}&$top={CONVERSATION_TOP}"
                    "&$filter="
                    + quote(f"conversationId eq '{_odata_literal(conversation)}'", safe="'")
                ),
            }
            for index, conversation in enumerate(conversations)
        ]
        answers = self._batch(parts, what="messages.list(conversation)") if parts else {}
        sent_folder = self._sent_folder_id() if parts else ""
        found: dict[str, list[MessageHeaders]] = {}
        for index, conversation in enumerate(conversations):
            messages = (answers.get(str(index)) or {}).get("value", [])
            lines = [
                _message_headers(m, conversation, sent_folder)
                for m in messages
                if not m.get("isDraft")
            ]
            if lines:
                found[conversation] = lines
        return found

    def quota_costs(self) -> QuotaCosts:
        # Graph counts requests: 10,000 per ten minutes per mailbox. Each message is one
        # $value request; labelling reads and patches its categories (two batched parts).
        return QuotaCosts(
            search_page=1,
            fetch_per_message=1,
            label_per_message=2,
            per_second=settings.MAILSYNC_IMPORT_GRAPH_REQUESTS_PER_SECOND,
            fetch_batch=GRAPH_IMPORT_FETCH_BATCH,
        )

    def search_threads(self, text: str, *, limit: int) -> list[ThreadSummary]:
        """Graph's $search (KQL) in Inbox and Sent Items, one page each, grouped by
        conversation, newest first. $search takes neither $filter nor $orderby: Graph
        orders its results by date itself."""
        newest: dict[str, str] = {}
        for folder in DELTA_FOLDERS:
            url = (
                f"me/mailFolders/{folder}/messages?$select={SEARCH_SELECT}&$top={SEARCH_TOP}"
                f"&$search={quote(_kql(text), safe='')}"
            )
            page = self._request("get", url, what="messages.search").json()
            for message in page.get("value", []):
                conversation = message.get("conversationId", "")
                at = message.get("receivedDateTime") or ""
                if conversation and at >= newest.get(conversation, ""):
                    newest[conversation] = at
        chosen = sorted(newest, key=lambda c: newest[c], reverse=True)[:limit]
        return self._summaries(chosen)

    def thread_summary(self, thread_id: str) -> ThreadSummary | None:
        return next(iter(self._summaries([thread_id])), None)

    def _summaries(self, conversation_ids: list[str]) -> list[ThreadSummary]:
        """Every message of each conversation, headers only, in $batch requests."""
        parts = [
            {
                "id": str(index),
                "method": "GET",
                "url": (
                    f"/me/messages?$select={SUMMARY_SELECT}&$top={CONVERSATION_TOP}&$filter="
                    + quote(f"conversationId eq '{_odata_literal(conversation)}'", safe="'")
                ),
            }
            for index, conversation in enumerate(conversation_ids)
        ]
        answers = self._batch(parts, what="messages.list(conversation)") if parts else {}
        summaries = []
        for index, conversation in enumerate(conversation_ids):
            messages = (answers.get(str(index)) or {}).get("value", [])
            lines = [_header_lines(m) for m in messages if not m.get("isDraft")]
            if lines:
                summaries.append(thread_summary_from(conversation, lines))
        return summaries

    def send(self, raw: bytes, *, thread_id: str = "", send_only: bool = False) -> SentMessage:
        """Create a draft from our MIME (keeping our Message-ID and headers), learn its ids,
        then send it. Neither step is retried: a retried create can leave a second draft,
        a retried send a second message. Drafts need Mail.ReadWrite; with Mail.Send alone
        the MIME goes to sendMail, which answers 202 with no ids.

        Graph refuses requests over 4 MB: a larger message's draft is created without its
        files, which are then added one by one, each over 3 MB through an upload session
        in ranges of at most 4 MB, before the draft is sent."""
        if send_only:
            if len(base64.b64encode(raw)) > MAX_MIME_REQUEST_BYTES:
                # Upload sessions need a draft, and drafts need Mail.ReadWrite.
                raise ProviderError(
                    "Under limited sync, Outlook can send messages of at most 3 MB.",
                    permanent=True,
                    status=413,
                    reason="too_large",
                )
            self._post_mime("me/sendMail", raw, what="sendMail")
            return SentMessage(id="", thread_id="")
        files: list[OutgoingFile] = []
        if len(base64.b64encode(raw)) > MAX_MIME_REQUEST_BYTES:
            raw, files = without_attachments(raw)
        draft = self._post_mime("me/messages", raw, what="messages.create").json()
        try:
            for file in files:
                self._attach_file(draft["id"], file)
            _call(lambda: self._con.post(self._url(f"me/messages/{draft['id']}/send")), "send")
        except ProviderError:
            self._withdraw_draft(draft["id"])
            raise
        return SentMessage(id=draft["id"], thread_id=draft.get("conversationId", ""))

    def _post_mime(self, path: str, raw: bytes, *, what: str) -> requests.Response:
        return _call(
            lambda: self._con.post(
                self._url(path),
                data=base64.b64encode(raw).decode(),
                headers={"Content-type": "text/plain"},
            ),
            what,
        )

    def _attach_file(self, draft_id: str, file: OutgoingFile) -> None:
        """One file onto a draft: a fileAttachment post under 3 MB, an upload session above."""
        attachments = f"me/messages/{draft_id}/attachments"
        if len(file.content) < UPLOAD_SESSION_THRESHOLD_BYTES:
            body = {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": file.filename,
                "contentType": file.content_type,
                "contentBytes": base64.b64encode(file.content).decode(),
            }
            # Not retried: a retried post could attach the file twice.
            _call(lambda: self._con.post(self._url(attachments), data=body), "attachments.create")
            return
        session = self._request(
            "post",
            f"{attachments}/createUploadSession",
            what="attachments.createUploadSession",
            data={
                "AttachmentItem": {
                    "attachmentType": "file",
                    "name": file.filename,
                    "size": len(file.content),
                    "contentType": file.content_type,
                }
            },
        ).json()
        with self._graph.upload_session() as uploads:
            upload_range(uploads, session["uploadUrl"], file.content)

    def _withdraw_draft(self, draft_id: str) -> None:
        """The draft is ours and was never sent: leave the user's Drafts as we found them."""
        with contextlib.suppress(ProviderError):
            _call(lambda: self._con.delete(self._url(f"me/messages/{draft_id}")), "delete")

    def ensure_label(self, name: str) -> str:
        categories = self._request("get", "me/outlook/masterCategories", what="categories").json()
        for category in categories.get("value", []):
            display_name: str = category["displayName"]
            if display_name.lower() == name.lower():
                return display_name
        try:
            self._request(
                "post",
                "me/outlook/masterCategories",
                what="categories.create",
                data={"displayName": name, "color": "preset7"},
            )
        except ProviderError as error:
            if error.status != 409:  # created meanwhile by another worker
                raise
        return name

    def apply_label(self, label_id: str, message_ids: list[str]) -> None:
        ids = list(dict.fromkeys(message_ids))
        current = self._batch(
            [
                {"id": m, "method": "GET", "url": f"/me/messages/{m}?$select=categories"}
                for m in ids
            ],
            what="messages.get(categories)",
        )
        patches = [
            {
                "id": m,
                "method": "PATCH",
                "url": f"/me/messages/{m}",
                "headers": {"Content-Type": "application/json"},
                "body": {"categories": [*body.get("categories", []), label_id]},
            }
            for m, body in current.items()
            if body and label_id not in body.get("categories", [])
        ]
        if patches:
            self._batch(patches, what="messages.patch(categories)")
