"""Pure functions between RFC 5322 bytes and our records: no I/O, no database.

Full sync, manual import and inbound mail all parse with `parse_message`; sending builds
with `build_message`.
"""

import email
import email.parser
import email.policy
import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage

SNIPPET_LENGTH = 200


class MalformedMessage(ValueError):
    """The bytes are not a message we can read (no headers, broken structure)."""


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    in_reply_to: str
    references: str
    threadline_ref: str
    from_header: str
    from_address: str
    to_header: str
    cc_header: str
    recipient_addresses: tuple[str, ...]
    subject: str
    sent_at: datetime
    body_text: str
    body_html: str
    attachments: tuple[ParsedAttachment, ...] = field(default_factory=tuple)

    @property
    def reference_headers(self) -> tuple[str, ...]:
        """The headers that may carry a thread reference, most specific first."""
        return (self.threadline_ref, self.in_reply_to, self.references, self.message_id)

    @property
    def snippet(self) -> str:
        return " ".join(self.body_text.split())[:SNIPPET_LENGTH]


def _addresses(*values: str) -> tuple[str, ...]:
    pairs = email.utils.getaddresses([v for v in values if v])
    return tuple(addr.strip().lower() for _, addr in pairs if addr and "@" in addr)


def _header(message: MimeMessage, name: str) -> str:
    try:
        value = message.get(name, "")
    except (ValueError, TypeError, IndexError):
        # A header the modern parser cannot model: fall back to its raw text.
        value = message.get_all(name, failobj=[""])[0] if message.get_all(name) else ""
    return " ".join(str(value).split())


def _date(message: MimeMessage, received_at: datetime | None = None) -> datetime:
    raw = _header(message, "Date")
    try:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        return received_at or datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text_of(part) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def reference_headers(raw: bytes) -> tuple[str, ...]:
    """The headers that may carry a thread reference (as `ParsedMessage.reference_headers`),
    read without decoding the body: enough to decide that a message is not of interest.
    Raises MalformedMessage when there are no headers at all."""
    if not raw or not raw.strip():
        raise MalformedMessage("The message is empty.")
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    except Exception as error:  # the parser's failure modes are not one exception type
        raise MalformedMessage(f"The message cannot be parsed: {error}") from error
    if not headers.keys():
        raise MalformedMessage("The message has no readable headers.")
    names = ("X-Threadline-Ref", "In-Reply-To", "References", "Message-ID")
    return tuple(_header(headers, name) for name in names)


def parse_message(raw: bytes, *, received_at: datetime | None = None) -> ParsedMessage:
    if not raw or not raw.strip():
        raise MalformedMessage("The message is empty.")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as error:  # the parser's failure modes are not one exception type
        raise MalformedMessage(f"The message cannot be parsed: {error}") from error
    if not message.keys() or (message.defects and not message.get("From")):
        raise MalformedMessage("The message has no readable headers.")
    from_header = _header(message, "From")
    from_addresses = _addresses(from_header)
    if not from_addresses:
        raise MalformedMessage("The message has no From address.")

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = []
    for part in message.iter_attachments():
        content = part.get_payload(decode=True) or b""
        attachments.append(
            ParsedAttachment(
                filename=part.get_filename() or "attachment",
                content_type=part.get_content_type(),
                content=content,
            )
        )
    to_header, cc_header = _header(message, "To"), _header(message, "Cc")
    return ParsedMessage(
        message_id=_header(message, "Message-ID"),
        in_reply_to=_header(message, "In-Reply-To"),
        references=_header(message, "References"),
        threadline_ref=_header(message, "X-Threadline-Ref"),
        from_header=from_header,
        from_address=from_addresses[0],
        to_header=to_header,
        cc_header=cc_header,
        recipient_addresses=_addresses(to_header, cc_header),
        subject=_header(message, "Subject"),
        sent_at=_date(message, received_at),
        body_text=_text_of(text_part) if text_part is not None else "",
        body_html=_text_of(html_part) if html_part is not None else "",
        attachments=tuple(attachments),
    )


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    content: bytes


def build_message(
    *,
    from_address: str,
    from_name: str,
    to: list[str],
    subject: str,
    body_text: str,
    body_html: str = "",
    message_id: str,
    threadline_ref: str,
    in_reply_to: str = "",
    references: str = "",
    attachments: list[OutgoingAttachment] | tuple = (),
    sent_at: datetime | None = None,
) -> bytes:
    message = MimeMessage(policy=email.policy.SMTP)
    message["From"] = email.utils.formataddr((from_name, from_address))
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(sent_at or datetime.now(UTC))
    message["Message-ID"] = message_id
    message["X-Threadline-Ref"] = threadline_ref
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message.set_content(body_text)
    if body_html:
        message.add_alternative(body_html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message.as_bytes()
