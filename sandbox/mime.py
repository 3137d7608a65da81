"""Pure functions over raw RFC 5322 messages: parse the fields the sandbox stores, fix up
outgoing mail the way a provider's submission server does, and build replies.

Nothing here touches the database, so the same code serves `send`, `deliver`, the web page
and the bulk `fill`.
"""

import email
import email.errors
import email.policy
import hashlib
import hmac
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr, getaddresses, parseaddr, parsedate_to_datetime
from typing import cast

from django.conf import settings
from django.utils import timezone

_SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_MSGID = re.compile(r"<([^<>\s]+)>")
_WS = re.compile(r"\s+")
SNIPPET_LENGTH = 200


@dataclass
class ParsedMessage:
    headers: list[tuple[str, str]]
    subject: str
    from_name: str
    from_addr: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    message_id: str
    in_reply_to: list[str]
    references: list[str]
    date_ms: int | None
    snippet: str
    text_body: str
    has_attachments: bool
    extra: dict = field(default_factory=dict)

    @property
    def subject_normalized(self) -> str:
        return normalize_subject(self.subject)

    @property
    def recipients(self) -> list[str]:
        seen: dict[str, None] = {}
        for address in [*self.to, *self.cc, *self.bcc]:
            seen.setdefault(address, None)
        return list(seen)


def normalize_subject(subject: str) -> str:
    """Strip reply/forward prefixes and fold whitespace, as threading compares subjects."""
    return _WS.sub(" ", _SUBJECT_PREFIX.sub("", subject or "")).strip().lower()


def strip_msgid(value: str) -> str:
    value = (value or "").strip()
    match = _MSGID.search(value)
    return match.group(1) if match else value.strip("<>")


def msgids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _addresses(message: Message, name: str) -> list[str]:
    values = [str(v) for v in message.get_all(name, [])]
    return [addr.lower() for _, addr in getaddresses(values) if addr]


def _decoded(message: Message, name: str) -> str:
    value = message.get(name)
    return _decode_words(value) if value is not None else ""


def _decode_words(value) -> str:
    """A header as people read it (RFC 2047 words decoded), or as written if it cannot be."""
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return str(value)


def parse(raw: bytes) -> ParsedMessage:
    # compat32 reads headers as text: mail providers accept mail whose headers Python's
    # modern parser raises on (`Cc: a@[`, `Message-ID: <`), and so must the sandbox.
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    from_name, from_addr = parseaddr(_decoded(message, "From"))
    date_ms = None
    if message.get("Date"):
        try:
            written = parsedate_to_datetime(str(message["Date"]))
            # Representable as a UTC date, as providers store it (9999-12-31 -2359 is not).
            written.astimezone(UTC)
            date_ms = int(written.timestamp() * 1000)
        except (TypeError, ValueError, IndexError, OverflowError):
            date_ms = None
    text = text_body(message)
    return ParsedMessage(
        headers=[(name, _decode_words(value)) for name, value in message.items()],
        subject=_decoded(message, "Subject"),
        from_name=from_name,
        from_addr=from_addr.lower(),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        message_id=strip_msgid(_decoded(message, "Message-ID")),
        in_reply_to=msgids(_decoded(message, "In-Reply-To")),
        references=msgids(_decoded(message, "References")),
        date_ms=date_ms,
        snippet=make_snippet(text),
        text_body=text,
        has_attachments=any(
            part.get_content_disposition() == "attachment" for part in message.walk()
        ),
    )


def text_body(message: Message) -> str:
    """The first text/plain part (or a tag-stripped text/html one), decoded."""
    html_fallback = ""
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            return _part_text(part)
        if content_type == "text/html" and not html_fallback:
            html_fallback = re.sub(r"<[^>]+>", " ", _part_text(part))
    return html_fallback


def _part_text(part: Message) -> str:
    # A leaf part decodes to bytes (a multipart one to None, hence the fallback).
    payload = cast(bytes, part.get_payload(decode=True) or b"")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def make_snippet(text: str) -> str:
    # Gmail's snippets are whitespace-folded and HTML-escaped.
    return html.escape(_WS.sub(" ", text).strip()[:SNIPPET_LENGTH], quote=True)


def new_message_id(domain: str = "mail.gmail.com") -> str:
    return f"<CA{secrets.token_urlsafe(24)}@{domain}>"


def prepare_outgoing(raw: bytes, *, sender: str, sender_name: str = "") -> bytes:
    """What a submission server does: keep a supplied Message-ID (add one if missing), add
    Date, and make From the authenticated sender. Edits are made on the bytes, so
    everything else arrives exactly as the client wrote it."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    head, separator, body = split_head(raw)
    newline = b"\r\n" if b"\r\n" in head or not head else b"\n"
    added: list[str] = []
    _, from_addr = parseaddr(str(message.get("From") or ""))
    if from_addr.lower() != sender.lower():
        head = _drop_header(head, b"from")
        added.append("From: " + (formataddr((sender_name, sender)) if sender_name else sender))
    if not message.get("Date"):
        added.append("Date: " + format_datetime(timezone.now()))
    if not message.get("Message-ID"):
        added.append("Message-ID: " + new_message_id())
    if added:
        prefix = newline.join(line.encode() for line in added) + newline
        raw = prefix + head + (separator or newline + newline) + body
    return dkim_sign(raw, domain=sender.rsplit("@", 1)[-1].lower())


# DKIM, as far as the sandbox needs it: every mailbox's outgoing mail is signed for its
# domain, as Google Workspace and Exchange Online do once DKIM is set up, and a receiving
# relay (the sandbox's Mailgun) verifies it. An HMAC under the installation's secret
# stands in for the RSA signature: only the sandbox can make one, a sender cannot forge it.
DKIM_SELECTOR = "sandbox"


def _dkim_value(domain: str, message: Message) -> str:
    signed = "\n".join(
        [domain, str(message.get("From") or ""), str(message.get("Message-ID") or "")]
    )
    return hmac.new(
        f"sandbox-dkim:{settings.SECRET_KEY}".encode(), signed.encode(), hashlib.sha256
    ).hexdigest()


def dkim_sign(raw: bytes, *, domain: str) -> bytes:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    newline = b"\r\n" if b"\r\n" in split_head(raw)[0] else b"\n"
    header = (
        f"DKIM-Signature: v=1; a=hmac-sha256; d={domain}; s={DKIM_SELECTOR}; "
        f"h=from:message-id; b={_dkim_value(domain, message)}"
    )
    return header.encode() + newline + raw


def dkim_verified_domains(raw: bytes) -> tuple[set[str], set[str]]:
    """(domains whose signature verifies, domains whose signature does not)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    passed: set[str] = set()
    failed: set[str] = set()
    for value in message.get_all("DKIM-Signature") or []:
        tags = dict(part.strip().split("=", 1) for part in str(value).split(";") if "=" in part)
        domain = tags.get("d", "").strip().lower()
        ok = hmac.compare_digest(tags.get("b", "").strip(), _dkim_value(domain, message))
        (passed if ok else failed).add(domain)
    return passed, failed - passed


def strip_bcc(raw: bytes) -> bytes:
    """The copy a recipient receives: no Bcc header. Other bytes are left untouched."""
    head, separator, body = split_head(raw)
    return _drop_header(head, b"bcc") + separator + body


def _drop_header(head: bytes, name: bytes, *, value_prefix: bytes = b"") -> bytes:
    """Remove every occurrence of a header (those whose value starts with `value_prefix`),
    continuation lines included."""
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        field, colon, value = line.partition(b":")
        dropping = (
            bool(colon)
            and field.strip().lower() == name
            and value.strip().lower().startswith(value_prefix.lower())
        )
        if not dropping:
            kept.append(line)
    return b"\n".join(kept)


def drop_header(raw: bytes, name: str, *, value_prefix: str = "") -> bytes:
    head, separator, body = split_head(raw)
    return (
        _drop_header(head, name.lower().encode(), value_prefix=value_prefix.encode())
        + separator
        + body
    )


def split_head(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, blank line, body). The earliest blank line ends the head: CRLF and bare-LF
    writers both occur, and a body (e.g. an attached message) has blank lines of its own."""
    found = [(raw.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n") if sep in raw]
    if not found:
        return raw, b"", b""
    index, separator = min(found)
    return raw[:index], separator, raw[index + len(separator) :]


def build_message(
    *,
    sender: str,
    sender_name: str = "",
    to: str,
    cc: str = "",
    subject: str,
    body: str,
    in_reply_to: str = "",
    references: str = "",
) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender)) if sender_name else sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = new_message_id(sender.rsplit("@", 1)[-1] or "sandbox.localhost")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message.set_content(body)
    return message.as_bytes(policy=email.policy.SMTP)


def reply_headers(original: ParsedMessage) -> dict[str, str]:
    """Subject, In-Reply-To and References for a reply, per RFC 5322 section 3.6.4."""
    subject = original.subject
    if not re.match(r"^\s*re\s*:", subject, re.IGNORECASE):
        subject = f"Re: {subject}"
    own = f"<{original.message_id}>" if original.message_id else ""
    chain = [f"<{m}>" for m in original.references] or [f"<{m}>" for m in original.in_reply_to]
    references = " ".join([*chain, own]).strip()
    return {"subject": subject, "in_reply_to": own, "references": references}


def epoch_ms() -> int:
    return int(time.time() * 1000)
