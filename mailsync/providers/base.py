"""The provider interface: one small surface that Gmail and Microsoft Graph both fill.

Adapters turn every failure into `ProviderError`, which says whether trying again can
help (`permanent`), so that the sync engine's rules are written once for both providers.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


class ProviderError(Exception):
    """A provider call failed. `permanent` errors (revoked grant, missing scope) stop sync
    until the user acts; temporary ones (429, 5xx, timeouts) are retried later."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def needs_reauthorization(self) -> bool:
        return self.reason in {"invalid_grant", "unauthorized"}


class CursorExpired(ProviderError):
    """The provider no longer keeps changes that far back (Gmail 404, Graph 410)."""

    def __init__(self, message: str = "The sync cursor has expired.") -> None:
        super().__init__(message, permanent=False, status=404, reason="cursor_expired")


class NotFound(ProviderError):
    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message, permanent=False, status=404, reason="not_found")


@dataclass(frozen=True)
class Authorization:
    """The result of a completed OAuth code exchange."""

    account_address: str
    credentials: dict[str, Any]
    granted_scopes: list[str]
    # Where sync starts: mail from this moment on is checked (nothing older is read).
    cursor: str


@dataclass(frozen=True)
class MessageRef:
    id: str
    thread_id: str
    labels: tuple[str, ...] = ()
    # Listed among the mailbox's sent mail (Gmail's SENT label, Graph's Sent Items). Only
    # where a message was found says who wrote it; its From header is the writer's claim.
    sent: bool = False


@dataclass(frozen=True)
class RawMessage:
    """A whole message as the provider keeps it, with what the provider itself knows."""

    raw: bytes
    # Found among the owner's sent mail, as the provider says when it is fetched.
    sent: bool
    # When the provider received or filed it: the fallback for an impossible Date header.
    received_at: datetime | None = None


@dataclass
class ChangePage:
    """New messages since a cursor, and the cursor that covers them."""

    added: list[MessageRef] = field(default_factory=list)
    cursor: str = ""


@dataclass(frozen=True)
class SentMessage:
    id: str
    thread_id: str


class TokenStore(ABC):
    """Where a session's tokens live (the encrypted connection row), as providers see it."""

    @abstractmethod
    def save(self, credentials: dict[str, Any]) -> None: ...

    @abstractmethod
    def locked(self) -> AbstractContextManager[dict[str, Any]]:
        """Hold a lock every worker shares, yielding the freshest stored credentials, so that
        one token is refreshed once however many workers find it expired."""


class MailboxSession(ABC):
    """One authorized mailbox. Created by `MailProvider.open`."""

    @abstractmethod
    def account_address(self) -> str: ...

    @abstractmethod
    def current_cursor(self) -> str:
        """A cursor that starts at 'now'."""

    @abstractmethod
    def changes_since(self, cursor: str) -> Iterator[ChangePage]:
        """Pages of added messages; raises CursorExpired when the cursor is too old."""

    @abstractmethod
    def reference_headers(self, message_ids: list[str]) -> dict[str, dict[str, str]]:
        """Only Message-ID, In-Reply-To, References and X-Threadline-Ref, per message id.
        Messages that vanished meanwhile are left out."""

    @abstractmethod
    def raw_messages(self, refs: list[MessageRef]) -> dict[str, RawMessage]:
        """Full RFC 5322 bytes by message id. Call only for messages of interest.
        Messages that vanished meanwhile are left out."""

    @abstractmethod
    def thread_messages(self, thread_id: str) -> list[MessageRef]: ...

    @abstractmethod
    def search_by_address(self, address: str) -> list[MessageRef]: ...

    @abstractmethod
    def send(self, raw: bytes, *, thread_id: str = "", send_only: bool = False) -> SentMessage:
        """Send `raw` as written. `send_only` tokens (limited sync) may not read, so the
        provider may not be able to say which ids the sent copy got (empty then)."""

    @abstractmethod
    def ensure_label(self, name: str) -> str:
        """Our own label/category; created once. Returns its id."""

    @abstractmethod
    def apply_label(self, label_id: str, message_ids: list[str]) -> None: ...


class MailProvider(ABC):
    name: str

    @abstractmethod
    def scopes_for(self, level: str) -> list[str]: ...

    @abstractmethod
    def authorization_url(
        self, *, redirect_uri: str, scopes: list[str], login_hint: str = ""
    ) -> tuple[str, str, str]:
        """(url, state, flow_state): the caller keeps `state` and the secret `flow_state`
        (the PKCE verifier, and for Microsoft the nonce) until the callback."""

    @abstractmethod
    def exchange_code(
        self,
        *,
        redirect_uri: str,
        callback_params: dict[str, str],
        flow_state: str,
        scopes: list[str],
    ) -> Authorization:
        """`callback_params` is the query string the provider redirected back with;
        `flow_state` what `authorization_url` asked the caller to keep."""

    @abstractmethod
    def revoke(self, credentials: dict[str, Any]) -> None: ...

    @abstractmethod
    def open(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> MailboxSession: ...
