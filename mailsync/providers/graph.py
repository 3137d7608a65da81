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
import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import msal
import requests
from django.conf import settings
from O365 import Account
from O365.connection import Connection, MSGraphProtocol
from O365.utils.token import BaseTokenBackend

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

GRAPH_RESOURCE = "https://graph.microsoft.com/"
SCOPES_BY_LEVEL = {
    # Send; read headers and MIME and set our category (ReadWrite); create the master
    # category once (MailboxSettings); read the mailbox's own address (User.Read), which
    # is the only From we send as. MSAL adds offline_access, openid and profile itself.
    "full": ["User.Read", "Mail.Send", "Mail.ReadWrite", "MailboxSettings.ReadWrite"],
    "limited": ["User.Read", "Mail.Send"],
}
SENT_FOLDER = "sentitems"
DELTA_FOLDERS = ("inbox", SENT_FOLDER)
HEADER_SELECT = "internetMessageHeaders,internetMessageId,conversationId"
# What every delta round returns: Graph keeps the first request's options in its links.
DELTA_SELECT = "id,conversationId,isDraft"
BATCH_LIMIT = 20  # Graph's JSON batching limit
PAGE_SIZE = 500
IMMUTABLE_IDS = 'IdType="ImmutableId"'


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

    def scopes_for(self, level: str) -> list[str]:
        return list(SCOPES_BY_LEVEL[level])

    def authorization_url(
        self, *, redirect_uri: str, scopes: list[str], login_hint: str = ""
    ) -> tuple[str, str, str]:
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
        self, *, redirect_uri: str, state: str, level: str = "full", tenant: str = ""
    ) -> str:
        scopes = " ".join(_full_scope(s) for s in SCOPES_BY_LEVEL[level])
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
            # Send-only tokens (limited sync) cannot read a delta cursor, and need none.
            cursor=session.current_cursor() if "Mail.ReadWrite" in granted else "",
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


def o365_account(*, tenant: str, backend: ConnectionTokenBackend) -> Account:
    """An O365 Account on the configured Graph and sign-in hosts. The one place that
    reaches into O365's internals; tests/mailsync/test_o365_internals.py pins both:

    - MSGraphProtocol takes its host from the `_protocol_url` it reads in __init__, so
      ConfiguredGraphProtocol sets it first (the class default is Microsoft's cloud);
    - Connection builds its MSAL app, with Microsoft's fixed authority and instance
      discovery on, only while its `_msal_client` is None, so we hand it ours."""
    account = Account(
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


class GraphSession(MailboxSession):
    def __init__(self, credentials: dict[str, Any], *, store: TokenStore | None) -> None:
        tenant = credentials.get("tenant") or settings.MICROSOFT_TENANT
        self._backend = ConnectionTokenBackend(
            credentials.get("msal_cache", ""), store=store, tenant=tenant
        )
        self._account = o365_account(tenant=tenant, backend=self._backend)
        self._con: Connection = self._account.con
        self._root: str = self._account.protocol.service_url
        self._sent_folder: str | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self._root}{path.lstrip('/')}"

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        send = getattr(self._con, method)
        return with_retries(lambda: _call(lambda: send(self._url(path), **kwargs), what), what=what)

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
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
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
                added = [
                    MessageRef(
                        id=item["id"],
                        thread_id=item.get("conversationId", ""),
                        sent=folder == SENT_FOLDER,
                    )
                    for item in page.get("value", [])
                    if "@removed" not in item and not item.get("isDraft")
                ]
                new_links[folder] = page.get("@odata.deltaLink", new_links[folder])
                last = folder == DELTA_FOLDERS[-1] and "@odata.deltaLink" in page
                yield ChangePage(added=added, cursor=json.dumps(new_links) if last else "")

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
        if self._sent_folder is None:
            folder = self._request(
                "get", f"me/mailFolders/{SENT_FOLDER}?$select=id", what="mailFolders.get"
            ).json()
            self._sent_folder = folder.get("id", "")
        return self._sent_folder

    def thread_messages(self, thread_id: str) -> list[MessageRef]:
        url = (
            "me/messages?$select=id,conversationId,parentFolderId&$top=100"
            f"&$filter=conversationId eq '{thread_id.replace(chr(39), chr(39) * 2)}'"
        )
        return [
            MessageRef(
                id=m["id"],
                thread_id=m["conversationId"],
                sent=m.get("parentFolderId") == self._sent_folder_id(),
            )
            for page in self._pages(url, what="messages.list")
            for m in page["value"]
        ]

    def search_by_address(self, address: str) -> list[MessageRef]:
        """Inbox and Sent Items only: mail filed in sub-folders is not searched."""
        refs = []
        for folder in DELTA_FOLDERS:
            url = (
                f"me/mailFolders/{folder}/messages?$select=id,conversationId&$top=100"
                f'&$search="participants:{address}"'
            )
            refs += [
                MessageRef(
                    id=m["id"], thread_id=m.get("conversationId", ""), sent=folder == SENT_FOLDER
                )
                for page in self._pages(url, what="messages.search")
                for m in page.get("value", [])
            ]
        return refs

    def send(self, raw: bytes, *, thread_id: str = "", send_only: bool = False) -> SentMessage:
        """Create a draft from our MIME (keeping our Message-ID and headers), learn its ids,
        then send it. Neither step is retried: a retried create can leave a second draft,
        a retried send a second message. Drafts need Mail.ReadWrite; with Mail.Send alone
        the MIME goes to sendMail, which answers 202 with no ids."""
        if send_only:
            _call(
                lambda: self._con.post(
                    self._url("me/sendMail"),
                    data=base64.b64encode(raw).decode(),
                    headers={"Content-type": "text/plain"},
                ),
                "sendMail",
            )
            return SentMessage(id="", thread_id="")
        draft = _call(
            lambda: self._con.post(
                self._url("me/messages"),
                data=base64.b64encode(raw).decode(),
                headers={"Content-type": "text/plain"},
            ),
            "messages.create",
        ).json()
        try:
            _call(lambda: self._con.post(self._url(f"me/messages/{draft['id']}/send")), "send")
        except ProviderError:
            self._withdraw_draft(draft["id"])
            raise
        return SentMessage(id=draft["id"], thread_id=draft.get("conversationId", ""))

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
