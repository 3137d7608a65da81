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

from mailsync.providers.calendar import CalendarSession

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
    # When the provider received it, where the listing says so (None: not said): lets
    # sync leave out mail older than the retention period without fetching it.
    received_at: datetime | None = None


@dataclass(frozen=True)
class RawMessage:
    """A whole message as the provider keeps it, with what the provider itself knows."""

    raw: bytes
    # Found among the owner's sent mail, as the provider says when it is fetched.
    sent: bool
    # When the provider received or filed it: the fallback for an impossible Date header.
    received_at: datetime | None = None


@dataclass(frozen=True)
class ThreadSummary:
    """A conversation as a search lists it: headers only, never a body or a snippet."""

    id: str
    subject: str
    # (display name, lower-cased address) of everyone on its From, To and Cc lines.
    participants: tuple[tuple[str, str], ...]
    last_message_at: datetime | None
    message_count: int


@dataclass(frozen=True)
class HeaderLines:
    """What a summary reads of one message: its subject, the people on its From, To and
    Cc lines as (name, address), and when it arrived."""

    subject: str
    people: tuple[tuple[str, str], ...]
    at: datetime | None


def thread_summary_from(thread_id: str, messages: list[HeaderLines]) -> ThreadSummary:
    """One summary for both providers: the subject of the conversation's first message,
    everyone who appears on it once (first seen first), its newest time and its size."""
    ordered = sorted(messages, key=lambda m: (m.at is None, m.at or datetime.min))
    people: dict[str, str] = {}
    for message in ordered:
        for name, address in message.people:
            if address and (address.lower() not in people or not people[address.lower()]):
                people[address.lower()] = name
    times = [m.at for m in ordered if m.at is not None]
    return ThreadSummary(
        id=thread_id,
        subject=next((m.subject for m in ordered if m.subject), ""),
        participants=tuple((name, address) for address, name in people.items()),
        last_message_at=max(times) if times else None,
        message_count=len(ordered),
    )


@dataclass
class ChangePage:
    """New messages since a cursor, the ids of messages the provider reports gone from
    where sync looks, and the cursor that covers them: every page has one, from which the
    changes after it can be asked for, so a round may stop after any page (`last` is
    False while more pages follow).

    `deleted` is what the change feed says, ids only: Gmail's history reports a message
    deleted from the mailbox for good; a Graph delta is per folder and reports a message
    moved out of Inbox or Sent Items exactly as one deleted, so only
    `MailboxSession.messages_gone` tells which of them left the mailbox."""

    added: list[MessageRef] = field(default_factory=list)
    cursor: str = ""
    deleted: list[str] = field(default_factory=list)
    last: bool = True


@dataclass(frozen=True)
class SearchPage:
    """One page of a mailbox search, and the token that asks for the next ("" at the end)."""

    refs: list[MessageRef]
    next_token: str = ""


@dataclass(frozen=True)
class QuotaCosts:
    """What the provider charges against a user's quota for the calls an import makes, and
    how much of that quota per second an import may spend: the rest is left to sync and
    sending, so that a long import never makes the provider throttle the user."""

    search_page: int
    fetch_per_message: int
    label_per_message: float
    per_second: float
    # Messages fetched between two progress saves: a save at least every second or so.
    fetch_batch: int
    # One conversation's header lines (automatic ingestion reads them before any body).
    thread_headers: float = 1


@dataclass(frozen=True)
class MessageHeaders:
    """One message of a conversation as automatic ingestion's rules read it: who was on
    it, when, where the provider filed it, and the values that may carry Threadline's
    signed reference. Never a subject, a body or a snippet."""

    id: str
    thread_id: str
    # Filed among the owner's sent mail.
    sent: bool
    at: datetime | None
    # Everyone on its From, To, Cc and Bcc lines, lower-cased.
    addresses: tuple[str, ...]
    # Message-ID, In-Reply-To, References, X-Threadline-Ref where the provider gives them
    # with the headers asked for (Graph: the Message-ID only).
    references: tuple[str, ...] = ()


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
    def messages_gone(self, message_ids: list[str]) -> set[str]:
        """Of these ids from `ChangePage.deleted`, those deleted from the mailbox (not
        merely moved to another folder). Reads no content: at most each message's id and
        folder. Call only for messages Threadline stored."""

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
    def search_page(self, address: str, page_token: str = "") -> SearchPage:
        """One page of the messages from or to `address` (drafts left out); `page_token`
        is the previous page's `next_token`, "" for the first."""

    @abstractmethod
    def participants_search_page(
        self, addresses: list[str], since: datetime, page_token: str = ""
    ) -> SearchPage:
        """One page of the messages from or to (Cc, Bcc) any of `addresses`, received on or
        after `since`, drafts left out: ids and conversation ids only."""

    @abstractmethod
    def message_id_search_page(self, message_ids: list[str], page_token: str = "") -> SearchPage:
        """One page of the messages whose Message-ID is one of `message_ids`."""

    @abstractmethod
    def conversation_headers(self, thread_ids: list[str]) -> dict[str, list[MessageHeaders]]:
        """Every message of each conversation (drafts left out), header lines only; a
        conversation the mailbox no longer holds is left out."""

    @abstractmethod
    def quota_costs(self) -> QuotaCosts: ...

    @abstractmethod
    def search_threads(self, text: str, *, limit: int) -> list[ThreadSummary]:
        """The newest `limit` conversations matching `text` (an address, a name or words
        of a subject), with their headers only: what the user picks a thread from."""

    @abstractmethod
    def thread_summary(self, thread_id: str) -> ThreadSummary | None:
        """One conversation's headers; None when the mailbox no longer holds it."""

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
    # Whether cancelling an event can carry a message to the attendees (Graph's
    # events/cancel takes a comment; Google's events.delete takes none).
    cancellation_carries_message: bool = False

    @abstractmethod
    def scopes_for(self, level: str) -> list[str]: ...

    @abstractmethod
    def identity_scopes(self) -> list[str]:
        """What a grant without Email asks for to learn the account's address."""

    @abstractmethod
    def scopes_for_feature(self, kind: str) -> list[str]:
        """What the Calendar or Contacts box asks for on top of email's scopes."""

    @abstractmethod
    def authorization_url(
        self,
        *,
        redirect_uri: str,
        scopes: list[str],
        login_hint: str = "",
        held_scopes: list[str] | None = None,
    ) -> tuple[str, str, str]:
        """(url, state, flow_state): the caller keeps `state` and the secret `flow_state`
        (the PKCE verifier, and for Microsoft the nonce) until the callback. `scopes` is
        everything the grant should hold; `held_scopes` what the account's grant holds
        now (incremental consent asks for the difference where the provider can)."""

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

    @abstractmethod
    def open_contacts(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> "ContactsSession":
        """The same grant's address book (needs the Contacts scopes)."""

    @abstractmethod
    def open_calendar(
        self, credentials: dict[str, Any], *, store: TokenStore | None = None
    ) -> CalendarSession:
        """The same grant's calendar (needs the Calendar scopes)."""


# Where a ContactSuggestion came from: the user's saved contacts, or the people they
# exchanged mail with whom they never saved (Google's "other contacts"; Graph's relevant
# people who are not personal contacts).
SOURCE_CONTACTS = "contacts"
SOURCE_OTHER_CONTACTS = "other_contacts"


@dataclass(frozen=True)
class ContactSuggestion:
    """A person from the user's own contacts ("contacts") or the people they exchanged
    mail with ("other_contacts"), as the provider's search found them. Never stored
    unless the user picks one."""

    name: str
    emails: tuple[str, ...]
    source: str
    job_title: str = ""
    company: str = ""


class ContactsSession(ABC):
    """One connection's address book, read only. Created by `MailProvider.open_contacts`."""

    @abstractmethod
    def warm_up(self) -> None:
        """Refresh the provider's search cache before searching (Google documents a
        request with an empty query for it); nothing where the provider keeps none."""

    @abstractmethod
    def search(self, text: str, *, limit: int) -> list[ContactSuggestion]:
        """Contacts and other contacts matching `text` (name or address prefix)."""
