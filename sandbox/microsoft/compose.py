"""Graph message JSON → RFC 5322 bytes, the way Exchange turns a draft into MIME.

Only custom headers starting with "x-" may be set through internetMessageHeaders (Graph
answers 400 InvalidInternetMessageHeader otherwise). A reply made with createReply
carries In-Reply-To and References; Outlook drops them when the subject is edited, so
such a reply starts a new conversation.
"""

import base64
import binascii
import email.policy
import re
import secrets
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from django.utils import timezone

from sandbox import mime
from sandbox.microsoft import errors
from sandbox.models import Mailbox, Message

RECIPIENT_FIELDS = {
    "toRecipients": "To",
    "ccRecipients": "Cc",
    "bccRecipients": "Bcc",
    "replyTo": "Reply-To",
}
# A reply draft's threading headers, which Outlook drops when its subject is edited.
_THREADING = ("In-Reply-To", "References")


def exchange_message_id() -> str:
    # Exchange Online's Message-IDs name the mailbox server that created the item.
    server = (
        f"{secrets.choice(['BYAPR', 'DM6PR', 'SN6PR', 'MW4PR'])}{secrets.randbelow(99):02d}"
        f"MB{secrets.randbelow(9999):04d}"
    )
    return (
        f"<{server}{secrets.token_hex(16).upper()}@{server}.namprd{secrets.randbelow(20):02d}"
        ".prod.outlook.com>"
    )


def _addresses(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.bad_request(f"Invalid value for property '{field}'.")
    found = []
    for item in value:
        address = ((item or {}).get("emailAddress") or {}) if isinstance(item, dict) else {}
        if not address.get("address"):
            raise errors.bad_request(
                "At least one recipient isn't valid., A message can't be sent because it "
                "contains no recipients.",
                code="ErrorInvalidRecipients",
            )
        found.append(formataddr((address.get("name") or "", address["address"])))
    return found


def _custom_headers(value: Any) -> list[tuple[str, str]]:
    headers = []
    for item in value or []:
        name = str((item or {}).get("name", "")).strip()
        if not name.lower().startswith("x-"):
            raise errors.bad_request(
                f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                code="InvalidInternetMessageHeader",
            )
        headers.append((name, str(item.get("value", ""))))
    return headers


def _attach(message: EmailMessage, attachments: Any) -> None:
    for item in attachments or []:
        if not isinstance(item, dict) or "contentBytes" not in item:
            raise errors.bad_request("Only file attachments with contentBytes are supported.")
        try:
            data = base64.b64decode(item["contentBytes"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise errors.bad_request("Invalid base64 in contentBytes.") from error
        maintype, _, subtype = (item.get("contentType") or "application/octet-stream").partition(
            "/"
        )
        message.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=item.get("name") or "attachment",
        )


def build_raw(mailbox: Mailbox, fields: dict, *, keep: dict[str, str] | None = None) -> bytes:
    """MIME for a draft from Graph JSON `fields`. `keep` carries headers Graph does not
    let clients set but a draft already has (Message-ID, threading headers, Date)."""
    keep = keep or {}
    message = EmailMessage()
    sender = (
        formataddr((mailbox.display_name, mailbox.address))
        if mailbox.display_name
        else mailbox.address
    )
    message["From"] = sender
    for field, header in RECIPIENT_FIELDS.items():
        addresses = _addresses(fields.get(field), field)
        if addresses:
            message[header] = ", ".join(addresses)
    message["Subject"] = str(fields.get("subject") or "")
    message["Date"] = keep.get("Date") or format_datetime(timezone.now())
    message_id = str(fields.get("internetMessageId") or keep.get("Message-ID") or "")
    message["Message-ID"] = (
        message_id
        if message_id.startswith("<")
        else (f"<{message_id.strip('<>')}>" if message_id else exchange_message_id())
    )
    for header in _THREADING:
        if keep.get(header):
            message[header] = keep[header]
    if str(fields.get("importance") or "normal").lower() != "normal":
        message["Importance"] = str(fields["importance"]).lower()
    for name, value in _custom_headers(fields.get("internetMessageHeaders")):
        message[name] = value
    body = fields.get("body") or {}
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "text").lower() == "html":
        message.set_content(content, subtype="html")
    else:
        message.set_content(content)
    _attach(message, fields.get("attachments"))
    return message.as_bytes(policy=email.policy.SMTP)


def draft_fields(message: Message) -> tuple[dict, dict[str, str]]:
    """(Graph JSON fields, kept headers) of a stored draft, so a PATCH can rebuild it."""
    from sandbox.microsoft.representation import message_resource

    resource = message_resource(message, select=None, immutable=False)
    fields = {name: resource[name] for name in [*RECIPIENT_FIELDS, "subject", "body", "importance"]}
    fields["internetMessageHeaders"] = [
        {"name": n, "value": v} for n, v in message.headers if n.lower().startswith("x-")
    ]
    wanted = {
        "date": "Date",
        "message-id": "Message-ID",
        "in-reply-to": "In-Reply-To",
        "references": "References",
    }
    keep = {wanted[n.lower()]: v for n, v in message.headers if n.lower() in wanted}
    return fields, keep


def patched_draft(message: Message, changes: dict) -> bytes:
    fields, keep = draft_fields(message)
    fields.update({k: v for k, v in changes.items() if k in fields})
    if "subject" in changes and (
        mime.normalize_subject(str(changes["subject"] or "")) != message.subject_normalized
    ):
        # Outlook drops the threading headers of a reply whose subject was edited.
        for header in _THREADING:
            keep.pop(header, None)
    return build_raw(message.mailbox, fields, keep=keep)


def reply_fields(original: Message, mailbox: Mailbox, comment: str = "") -> tuple[dict, dict]:
    """A createReply draft: "RE:" subject, the original sender as recipient, threading
    headers pointing at the original."""
    parsed = mime.parse(bytes(original.raw))
    headers = mime.reply_headers(parsed)
    to = parsed.from_addr if parsed.from_addr != mailbox.address else (parsed.to or [""])[0]
    # Outlook replaces an existing "Re:" with its own "RE:" rather than stacking them.
    subject = "RE: " + re.sub(r"^\s*re\s*:\s*", "", original.subject, flags=re.IGNORECASE)
    fields = {
        "subject": subject,
        "toRecipients": [{"emailAddress": {"address": to}}] if to else [],
        "body": {"contentType": "text", "content": comment},
    }
    keep = {"In-Reply-To": headers["in_reply_to"], "References": headers["references"]}
    return fields, keep
