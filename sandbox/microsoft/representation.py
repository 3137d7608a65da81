"""Stored rows → Microsoft Graph JSON: messages (with $select), mail folders, categories.

Folder ids are derived from the mailbox and label id (a reversible encoding), so they are
stable, opaque to clients, and need no table of their own. Well-known folder names
("inbox", "sentitems", …) resolve case-insensitively, as in Graph.
"""

import base64
import email
import email.policy
import hashlib
import html
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from urllib.parse import quote

from sandbox.microsoft import errors
from sandbox.models import Label, Mailbox, Message
from sandbox.services import MICROSOFT_FLAGS

WELL_KNOWN = {
    "inbox": "INBOX",
    "sentitems": "SENT",
    "drafts": "DRAFT",
    "deleteditems": "TRASH",
    "junkemail": "SPAM",
    "archive": "ARCHIVE",
    "outbox": "OUTBOX",
}
ROOT = "msgfolderroot"
_FOLDER_MAGIC = b"sandbox-folder\x00"

# Graph's default message properties, in its order; the last two only when selected.
PROPERTIES = [
    *("createdDateTime", "lastModifiedDateTime", "changeKey", "categories"),
    *("receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId", "subject"),
    *("bodyPreview", "importance", "parentFolderId", "conversationId", "conversationIndex"),
    *("isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink"),
    *("inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients"),
    *("bccRecipients", "replyTo", "flag"),
]
SELECT_ONLY = ["internetMessageHeaders", "uniqueBody"]
_BY_LOWER = {name.lower(): name for name in ["id", *PROPERTIES, *SELECT_ONLY]}
NEEDS_RAW = {"body", "uniqueBody"}


def parse_select(value: str) -> list[str] | None:
    """The properties a $select names (None: the defaults). Unknown ones are a 400."""
    if not value.strip():
        return None
    chosen = []
    for name in value.split(","):
        known = _BY_LOWER.get(name.strip().lower())
        if known is None:
            raise errors.bad_request(
                f"Could not find a property named '{name.strip()}' on type "
                "'microsoft.graph.message'.",
                code="RequestBroker--ParseUri",
            )
        chosen.append(known)
    return chosen


def needs_raw(select: list[str] | None) -> bool:
    return select is None or bool(NEEDS_RAW & set(select))


# --- Folders -----------------------------------------------------------------------------


def folder_id(mailbox: Mailbox, label_id: str) -> str:
    data = _FOLDER_MAGIC + mailbox.pk.to_bytes(8, "big") + label_id.encode()
    return "AAMkA" + base64.urlsafe_b64encode(data).decode()


def root_folder_id(mailbox: Mailbox) -> str:
    return folder_id(mailbox, ROOT)


def label_for_folder(mailbox: Mailbox, value: str) -> str:
    """The label id a folder id or well-known name stands for (404 if none)."""
    if value.lower() in WELL_KNOWN:
        return WELL_KNOWN[value.lower()]
    if value.lower() == ROOT:
        return ROOT
    try:
        data = base64.urlsafe_b64decode(value.removeprefix("AAMkA"))
    except ValueError as error:
        raise errors.bad_request("Id is malformed.", code="ErrorInvalidIdMalformed") from error
    head, pk, label_id = data[:15], data[15:23], data[23:].decode(errors="replace")
    if head != _FOLDER_MAGIC or int.from_bytes(pk, "big") != mailbox.pk:
        raise errors.item_not_found()
    return label_id


def folder_resource(
    mailbox: Mailbox, label: Label, counts: dict[str, tuple[int, int]], children: int
) -> dict:
    total, unread = counts.get(label.provider_id, (0, 0))
    parent = label.options.get("parent") or ROOT
    return {
        "id": folder_id(mailbox, label.provider_id),
        "displayName": label.name,
        "parentFolderId": folder_id(mailbox, parent),
        "childFolderCount": children,
        "unreadItemCount": unread,
        "totalItemCount": total,
        "sizeInBytes": 0,
        "isHidden": False,
    }


def folder_of(message: Message) -> str:
    return next((label for label in message.labels if label not in MICROSOFT_FLAGS), "")


# --- Messages ----------------------------------------------------------------------------


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(message: Message, name: str) -> str:
    return next((v for n, v in message.headers if n.lower() == name.lower()), "")


def _recipients(message: Message, name: str) -> list[dict]:
    values = [v for n, v in message.headers if n.lower() == name.lower()]
    return [
        {"emailAddress": {"name": display or address, "address": address}}
        for display, address in getaddresses(values)
        if address
    ]


def _sent_at(message: Message) -> str:
    value = _header(message, "Date")
    try:
        return parsedate_to_datetime(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, IndexError, OverflowError):  # Exchange stores what it can
        return _iso(message.internal_date)


def _body(message: Message) -> dict:
    parsed = email.message_from_bytes(bytes(message.raw), policy=email.policy.default)
    part = parsed.get_body(preferencelist=("html", "plain"))
    if part is None:
        return {"contentType": "text", "content": ""}
    content = part.get_content() if isinstance(part.get_content(), str) else ""
    kind = "html" if part.get_content_type() == "text/html" else "text"
    return {"contentType": kind, "content": content}


def message_id_for(message: Message, immutable: bool) -> str:
    return message.immutable_id if immutable and message.immutable_id else message.provider_id


def _change_key(message: Message) -> str:
    digest = hashlib.sha1(f"{message.pk}:{message.history_id}".encode()).digest()  # noqa: S324 (an ETag, not security)
    return "CQAAABYAAA" + base64.b64encode(digest).decode()[:22]


def message_resource(message: Message, *, select: list[str] | None, immutable: bool) -> dict:
    wanted = PROPERTIES if select is None else select
    sender = {
        "emailAddress": {
            "name": message.from_name or message.from_addr,
            "address": message.from_addr,
        }
    }
    identifier = message_id_for(message, immutable)
    values = {
        "createdDateTime": lambda: _iso(message.internal_date),
        "lastModifiedDateTime": lambda: _iso(message.internal_date),
        "changeKey": lambda: _change_key(message),
        "categories": lambda: list(message.categories),
        "receivedDateTime": lambda: _iso(message.internal_date),
        "sentDateTime": lambda: _sent_at(message),
        "hasAttachments": lambda: message.has_attachments,
        "internetMessageId": lambda: f"<{message.rfc822_msgid}>" if message.rfc822_msgid else "",
        "subject": lambda: message.subject,
        "bodyPreview": lambda: html.unescape(message.snippet)[:255],
        "importance": lambda: (_header(message, "Importance") or "normal").lower(),
        "parentFolderId": lambda: folder_id(message.mailbox, folder_of(message)),
        "conversationId": lambda: message.thread_id,
        "conversationIndex": lambda: base64.b64encode(
            hashlib.sha256(message.thread_id.encode()).digest()[:22]
        ).decode(),
        "isDeliveryReceiptRequested": lambda: False,
        "isReadReceiptRequested": lambda: False,
        "isRead": lambda: not message.unread,
        "isDraft": lambda: "DRAFT" in message.labels,
        "webLink": lambda: (
            "https://outlook.office365.com/owa/?ItemID="
            f"{quote(identifier, safe='')}&exvsurl=1&viewmodel=ReadMessageItem"
        ),
        "inferenceClassification": lambda: "focused",
        "body": lambda: _body(message),
        "uniqueBody": lambda: _body(message),
        "sender": lambda: sender,
        "from": lambda: sender,
        "toRecipients": lambda: _recipients(message, "To"),
        "ccRecipients": lambda: _recipients(message, "Cc"),
        "bccRecipients": lambda: _recipients(message, "Bcc"),
        "replyTo": lambda: _recipients(message, "Reply-To"),
        "flag": lambda: {"flagStatus": "notFlagged"},
        "internetMessageHeaders": lambda: [
            {"name": name, "value": value} for name, value in message.headers
        ],
    }
    resource: dict = {"@odata.etag": f'W/"{_change_key(message)}"', "id": identifier}
    for name in wanted:
        if name != "id":
            resource[name] = values[name]()
    return resource


def removed_resource(identifier: str) -> dict:
    return {
        "@odata.type": "#microsoft.graph.message",
        "id": identifier,
        "@removed": {"reason": "deleted"},
    }
