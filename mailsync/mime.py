"""Pure functions between RFC 5322 bytes and our records: no I/O, no database.

Full sync, manual import and inbound mail all parse with `parse_message`; sending builds
with `build_message`.

Mail comes from strangers, so reading it never raises anything but `MalformedMessage`:
a header the standard library cannot model is kept as its text, an impossible date falls
back to when the message was received, and every string handed back can be stored as it
is (UTF-8, no NUL characters) on SQLite and PostgreSQL alike.
"""

import binascii
import email
import email.parser
import email.policy
import email.utils
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import AddressHeader, BaseHeader, HeaderRegistry
from email.message import EmailMessage as MimeMessage
from email.message import Message, MIMEPart
from typing import cast

SNIPPET_LENGTH = 200

# A real message nests a few levels (a forward of a forward: mixed > alternative >
# related, a dozen at most) and has tens of parts. Beyond these it is refused as
# malformed rather than partly stored: storing some of its parts would silently lose
# the rest, and a message refused is reported as "could not be read".
MAX_MIME_DEPTH = 50
MAX_MIME_PARTS = 500
# The standard parser checks every line against the boundary of every open multipart,
# so its time grows with lines x multiparts: a 25 MB message of empty lines inside 50
# nested multiparts takes a minute. Both are bounded before parsing (by the boundaries
# declared, each of which opens a multipart part), which bounds the time to a few
# seconds, while a real 25 MB message (~340,000 lines of base64) may still declare
# some fifty multiparts; real ones declare a handful.
MAX_LINES_TIMES_MULTIPARTS = 20_000_000
# Matched against the lower-cased bytes (ASCII only, as re.IGNORECASE is for bytes): a
# pattern with a literal start is searched for five times as fast over a 2 MB message.
_BOUNDARY_PARAMETER = re.compile(rb"boundary\*?[0-9]*\*?\s*=")

# Dates outside these bounds are a sender's mistake or a trap (a year-9999 date cannot
# be converted to UTC); the message is dated when it was received instead.
EARLIEST_SENT_AT = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


class MalformedMessage(ValueError):
    """The bytes are not a message we can read (no headers, broken structure)."""


class _ForgivingHeaderRegistry(HeaderRegistry):
    """The standard header classes, except that a value their parser chokes on (it
    raises AttributeError for `Cc: a@[` and IndexError for `Message-ID: <`) becomes an
    unstructured header: its text, decoded, without the structure. So does an address
    list the parser could only read in part (it shows `a@[` as `<>`): the text as written
    is what we keep, and `_addresses` reads what it can from it."""

    def __init__(self) -> None:
        super().__init__()
        self._unstructured: type[BaseHeader] = type(
            "_UnparsedHeader", (self.default_class, self.base_class), {}
        )

    def __call__(self, name: str, value: str) -> BaseHeader:
        try:
            header = super().__call__(name, value)
        except Exception:  # the header parser's failure modes are not one exception type
            return self._unstructured(name, value)
        if isinstance(header, AddressHeader) and header.defects:
            return self._unstructured(name, value)
        return header


class _HeaderClassCache:
    """Remembers the class made for each header name: the standard registry makes a new
    class (type(...)) for every header it parses, which costs more than parsing a short
    one. The classes made for one name are alike, so one serves every header of it."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = super().__getitem__(name)  # type: ignore[misc]
            self._classes[key] = made
        return made


class _HeaderCache:
    """A registry that remembers the headers it made: the standard library asks for a
    part's Content-Type (and other headers) again and again while it parses and walks a
    message (about thirty times per message), and parses the text anew each time, which
    was a third of our time per message. A header object is never changed once made, and
    the same name and text always parse alike, so one made earlier, for this message or
    another, is handed back. Only short texts are kept, and a bounded number of them, so
    that hostile mail cannot fill memory; tests/mailsync/test_parse_equivalence.py
    compares the results with the parser's as it was without it."""

    MAX_VALUE_LENGTH = 1000
    MAX_ENTRIES = 2048

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > self.MAX_VALUE_LENGTH:
            return super().__call__(name, value)  # type: ignore[misc, no-any-return]
        key = (name, value)
        header = self._made.get(key)
        if header is None:
            # A header that raises is not kept: it raises again next time.
            header = super().__call__(name, value)  # type: ignore[misc]
            if len(self._made) >= self.MAX_ENTRIES:
                self._made.clear()  # simpler than LRU, and hits come back at once
            self._made[key] = header
        return header


class _CachingHeaderRegistry(_HeaderCache, _HeaderClassCache, _ForgivingHeaderRegistry):
    """The forgiving registry, remembering the headers and the classes it made."""


class _CachingStandardHeaders(_HeaderCache, _HeaderClassCache, HeaderRegistry):
    """The standard registry (which raises), remembering the headers and classes it made."""


_POLICY = email.policy.default.clone(header_factory=_CachingHeaderRegistry())
# The standard classes, to read the addresses out of a header kept as text.
_STANDARD_HEADERS = _CachingStandardHeaders()


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


def _storable(text: str) -> str:
    """`text` as both databases accept it: PostgreSQL refuses NUL, and the encrypted
    fields encode to UTF-8, which lone surrogates (left by odd charsets) cannot."""
    return text.replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")


# An address we would recognise again: a local part (dot-atom or quoted) and a domain
# name or literal, which is what a From or To that parsed yields; `a@[` is not one.
# (\w is Unicode here: internationalised domain names are addresses too.)
_ADDRESS = re.compile(
    r'(?:[^\s"(),:;<>@\[\\\]]+|"(?:[^"\\]|\\.)*")@(?:[\w-]+(?:\.[\w-]+)*|\[[\w.:-]+\])'
)


def _addresses(*texts: str) -> tuple[str, ...]:
    """The addresses in address-list texts that are addresses, lower-cased."""
    found: list[str] = []
    for text in filter(None, texts):
        try:
            # The standard registry makes every To header an address header.
            to = cast(AddressHeader, _STANDARD_HEADERS("To", text))
            specs = [address.addr_spec for address in to.addresses]
        except Exception:  # the modern parser's own bugs (`a@[`): the older, simpler reader
            specs = [address for _, address in email.utils.getaddresses([text])]
        found += (spec.strip().lower() for spec in specs)
    return tuple(address for address in found if _ADDRESS.fullmatch(address))


def _header(message: MimeMessage, name: str) -> str:
    # The forgiving policy turns every header into text; one folded onto a line.
    return _storable(" ".join(str(message.get(name, "")).split()))


# An address list as nearly all mail writes it: `Ana Lima <ana.lima@example.org>` or
# `ana@example.org`, comma-separated, in ASCII letters, digits and a few marks, with no
# quotes, comments, encoded words, groups or dots in a name. For these the modern parser's
# answer is known without running it (it was a third of our time per message): the name's
# words and the address as written. Anything else goes to the parser.
_SIMPLE_NAME = r"[A-Za-z0-9'_-]+(?:[ \t]+[A-Za-z0-9'_-]+)*"
_SIMPLE_ADDR_SPEC = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_SIMPLE_MAILBOX = re.compile(
    rf"[ \t]*(?:(?P<name>{_SIMPLE_NAME})?[ \t]*<(?P<angled>{_SIMPLE_ADDR_SPEC})>"
    rf"|(?P<bare>{_SIMPLE_ADDR_SPEC}))[ \t]*"
)


def _simple_address_list(value: str) -> tuple[str, tuple[str, ...]] | None:
    """The text and addresses the parser would give for an address list written simply
    (`_SIMPLE_MAILBOX`), or None to ask the parser. tests/mailsync/test_parse_equivalence.py
    checks the two agree, on generated near-misses as well as on corpora."""
    rendered: list[str] = []
    specs: list[str] = []
    for item in value.replace("\r", "").replace("\n", "").split(","):
        found = _SIMPLE_MAILBOX.fullmatch(item)
        if found is None:
            return None
        spec = found["angled"] or found["bare"]
        name = " ".join((found["name"] or "").split())
        rendered.append(f"{name} <{spec}>" if name else spec)
        specs.append(spec.lower())
    return " ".join(", ".join(rendered).split()), tuple(specs)


# The headers the registry reads as unstructured text (its default class, and Subject's):
# text in printable ASCII with no encoded word reads as it is written.
_UNSTRUCTURED = frozenset({"subject", "in-reply-to", "references", "x-threadline-ref"})
_PLAIN_TEXT = re.compile(r"[\x20-\x7e\t\r\n]*")


class _Headers:
    """A message's headers as `_parsed` reads them, the first of each name (as Message.get
    takes): read simply where the parser's answer is known (plain unstructured text, simple
    address lists), else by the policy's parser through `_header`."""

    def __init__(self, message: MimeMessage) -> None:
        self._message = message
        # raw_items: the values as received, before the policy parses them.
        self._raw: dict[str, object] = {}
        for name, value in message.raw_items():
            self._raw.setdefault(name.lower(), value)

    def text(self, name: str) -> str:
        """As `_header(message, name)`."""
        key = name.lower()
        value = self._raw.get(key)
        if (
            key in _UNSTRUCTURED
            and isinstance(value, str)
            and "=?" not in value
            and _PLAIN_TEXT.fullmatch(value)
        ):
            return " ".join(value.replace("\r", "").replace("\n", "").split())
        return _header(self._message, name)

    def address_list(self, name: str) -> tuple[str, tuple[str, ...]]:
        """As `_header(message, name)` and `_addresses` of that text."""
        value = self._raw.get(name.lower())
        simple = _simple_address_list(value) if isinstance(value, str) else None
        if simple is None:
            text = _header(self._message, name)
            simple = (text, _addresses(text))
        return simple


def _as_utc(moment: datetime | None) -> datetime | None:
    """`moment` in UTC when it is a plausible sending time, else None."""
    if moment is None:
        return None
    try:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 31 Dec 9999 23:59 -2359 is in the year 10000 in UTC
        return None
    if not EARLIEST_SENT_AT <= moment <= datetime.now(UTC) + FUTURE_TOLERANCE:
        return None
    return moment


def _sent_at(date_header: str, received_at: datetime | None) -> datetime:
    try:
        written = email.utils.parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError, OverflowError, IndexError):
        written = None
    return _as_utc(written) or _as_utc(received_at) or datetime.now(UTC)


def _decoded_payload(part: Message) -> bytes:
    """`part.get_payload(decode=True)`, as bytes. For base64 (attachments), the same
    bytes handed to the same strict decoder as get_payload hands them, less its split
    into lines and join (one pass, where 2 MB made some 35,000 line objects: a third of
    decoding): the line endings removed are the ones bytes.splitlines splits at. What
    the strict decoder refuses, or a length get_payload would pad, goes to get_payload
    itself, whose fallbacks decode it and record its defects."""
    payload = getattr(part, "_payload", None)  # the text as parsed (see _runs_put_back)
    if (
        isinstance(payload, str)
        and payload.isascii()
        and str(part.get("content-transfer-encoding", "")).lower() == "base64"
    ):
        encoded = payload.encode("ascii").translate(None, b"\r\n")
        if len(encoded) % 4 == 0:
            try:
                return binascii.a2b_base64(encoded, strict_mode=True)
            except binascii.Error:
                pass
    # Decoding yields bytes for a leaf part and None for a multipart one.
    decoded = part.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else b""


def _text_of(part: MIMEPart) -> str:
    try:
        text: str = part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        # An unknown or unusable charset: read it as UTF-8, which most mail is.
        text = _decoded_payload(part).decode("utf-8", errors="replace")
    return _storable(text)


def _check_structure(message: MimeMessage) -> None:
    """Refuse a structure nested or split beyond what mail clients write (iteratively:
    walking a hostile tree recursively is what we are guarding against)."""
    parts = 0
    pending: list[tuple[Message, int]] = [(message, 0)]
    while pending:
        part, depth = pending.pop()
        parts += 1
        if depth > MAX_MIME_DEPTH or parts > MAX_MIME_PARTS:
            raise MalformedMessage(
                f"The message nests more than {MAX_MIME_DEPTH} levels "
                f"or has more than {MAX_MIME_PARTS} parts."
            )
        if part.is_multipart():
            # A multipart's payload is the list of its parts.
            children = cast(list[Message], part.get_payload())
            pending.extend((child, depth + 1) for child in children)


def _check_parse_cost(raw: bytes) -> None:
    multiparts = len(_BOUNDARY_PARAMETER.findall(raw.lower()))
    if multiparts > MAX_MIME_PARTS:
        raise MalformedMessage(f"The message declares more than {MAX_MIME_PARTS} multiparts.")
    if raw.count(b"\n") * multiparts > MAX_LINES_TIMES_MULTIPARTS:
        raise MalformedMessage(
            f"The message declares {multiparts} multiparts over too many lines to read."
        )


def _attachment(part: MimeMessage) -> ParsedAttachment:
    try:
        filename = part.get_filename()
    except Exception:  # a broken RFC 2231 name: the part is still worth keeping
        filename = None
    return ParsedAttachment(
        filename=_storable(" ".join((filename or "").split())) or "attachment",
        content_type=_storable(part.get_content_type()),
        content=_decoded_payload(part),
    )


def _unparseable(error: Exception) -> str:
    # The exception's own text may quote the message; the reason is logged and sent back
    # to the relay, so it names the kind of failure only.
    return f"The message cannot be parsed ({type(error).__name__})."


# A line ending followed by an empty line: a blank line, whatever the line endings
# (CRLF or LF). The header parser stops at the first blank line (or sooner, at a line that
# is no header); any blank line found here is at or after it.
_BLANK_LINE = re.compile(rb"\n[\r\n]")


def header_block(raw: bytes) -> bytes:
    """The start of `raw` that holds all of its headers: up to a blank line, the whole of
    it when there is none. A header parser reads the rest line by line only to set it
    aside; with a 2 MB attachment that is most of a post's parsing time."""
    blank = _BLANK_LINE.search(raw)
    # The byte after the match completes a CRLF; one of the body's more is harmless.
    return raw if blank is None else raw[: blank.end() + 1]


def reference_headers(raw: bytes) -> tuple[str, ...]:
    """The headers that may carry a thread reference (as `ParsedMessage.reference_headers`),
    read without decoding the body: enough to decide that a message is not of interest.
    Raises MalformedMessage when there are no headers at all."""
    if not raw or not raw.strip():
        raise MalformedMessage("The message is empty.")
    try:
        headers = email.parser.BytesHeaderParser(policy=_POLICY).parsebytes(header_block(raw))
        if not headers.keys():
            raise MalformedMessage("The message has no readable headers.")
        names = ("X-Threadline-Ref", "In-Reply-To", "References", "Message-ID")
        return tuple(_header(headers, name) for name in names)
    except MalformedMessage:
        raise
    except Exception as error:  # the parser's failure modes are not one exception type
        raise MalformedMessage(_unparseable(error)) from error


# Base64 bodies (attachments) are most of a message's bytes and, for the standard
# library's parser, most of its time: it reads them line by line, checking each line
# against every open boundary, some 60 ms for a 2 MB attachment. `_parsed_mime` parses the
# message with each long run of base64 lines replaced by a one-line stand-in, then puts
# the runs back into the parts that hold them. Why that is the same parse:
# - A run starts at a line that follows a blank line and is not blank itself, ends before
#   a line ending, and holds only base64 characters and line endings. So it holds no
#   boundary line (those start with "--") and no header line (no colon, no leading
#   space): the parser takes its first line as the end of any header block it is in, as
#   it takes the stand-in (letters and digits, on one line), and every later line as body.
# - Blank lines inside a run are body too, except in message/delivery-status, whose
#   blank lines separate blocks of headers: a message with such a part is parsed again
#   as it came.
# - So the parser makes the same decisions at the same places, and each stand-in lands
#   where its run would have, in the payload text of one part. A stand-in found anywhere
#   else (a preamble or epilogue, say), and the message is parsed again as it came.
# tests/mailsync/test_parse_equivalence.py compares the two parses part by part.
_RUN_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"
_RUN_SHORTEST = 2048  # shorter runs save less than setting them aside costs
_LINE_END_BYTES = b"\r\n"


def _long_runs_set_aside(raw: bytes) -> tuple[bytes, dict[str, str]]:
    """`raw` with each long run of base64 lines replaced by a stand-in, and the runs by
    stand-in. Each byte is looked at a bounded number of times, however hostile the mail:
    blank lines inside a stretch already looked at are not looked at again."""
    # Ends in a letter, so that no stand-in is the start of another ("…7x", "…71x").
    prefix = f"threadlinerun{uuid.uuid4().hex}n"
    if prefix.encode() in raw:
        return raw, {}
    runs: dict[str, str] = {}
    pieces: list[bytes] = []
    kept_from = search_from = 0
    while (blank := _BLANK_LINE.search(raw, search_from)) is not None:
        start = blank.end()
        while raw[start : start + 1] in (b"\r", b"\n"):  # further blank lines
            start += 1
        # A run of base64 reaches at most to the next "-", which base64 lacks and every
        # boundary line starts with: the line before that line is where it could end.
        dash = raw.find(b"-", start)
        end = len(raw) if dash < 0 else raw.rfind(b"\n", start, dash) + 1
        search_from = max(start, end)
        while end > start and raw[end - 1] in _LINE_END_BYTES:
            end -= 1
        if end - start < _RUN_SHORTEST:
            continue
        run = raw[start:end]
        if not run.translate(None, _RUN_CHARACTERS):
            stand_in = f"{prefix}{len(runs)}x"
            runs[stand_in] = run.decode("ascii")
            pieces += (raw[kept_from:start], stand_in.encode("ascii"))
            kept_from = end
    if not runs:
        return raw, {}
    pieces.append(raw[kept_from:])
    return b"".join(pieces), runs


# Any stand-in `_long_runs_set_aside` makes (the message's own are told apart by its id).
_STAND_IN = re.compile(r"threadlinerun[0-9a-f]{32}n[0-9]+x")


def _runs_put_back(message: Message, runs: dict[str, str]) -> bool:
    """Put each run set aside back in place of its stand-in, in the payload text of the
    part that holds it. False when a stand-in is not in exactly one part's text once, or
    the message has a part whose blank lines the parser acts on. One pass over each
    part's text, however many stand-ins it holds."""
    left = dict(runs)
    seen_twice = False

    def run_for(stand_in: re.Match[str]) -> str:
        nonlocal seen_twice
        if stand_in[0] in left:
            return left.pop(stand_in[0])
        seen_twice = seen_twice or stand_in[0] in runs
        return stand_in[0]

    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            return False
        # The text as the parser stored it: get_payload() would decode a text holding
        # undecodable bytes, and the part must keep exactly what the parser gave it.
        payload = getattr(part, "_payload", None)
        if isinstance(payload, str) and "threadlinerun" in payload:
            # A str with no charset: set as it is (what the parser itself stores).
            part.set_payload(_STAND_IN.sub(run_for, payload))
    return not left and not seen_twice


def _parsed_mime(raw: bytes) -> MimeMessage:
    """The standard library's parse of `raw` (`email.message_from_bytes` with our
    policy), with long base64 runs set aside while it reads (see above)."""
    skeleton, runs = _long_runs_set_aside(raw)
    if runs:
        message = email.message_from_bytes(skeleton, policy=_POLICY)
        if _runs_put_back(message, runs):
            return message
    return email.message_from_bytes(raw, policy=_POLICY)


def parse_message(raw: bytes, *, received_at: datetime | None = None) -> ParsedMessage:
    """Read a whole message. `received_at` (the provider's or relay's own date) stands
    in for a Date header that is missing or impossible; without it, now does."""
    if not raw or not raw.strip():
        raise MalformedMessage("The message is empty.")
    _check_parse_cost(raw)
    try:
        message = _parsed_mime(raw)
        _check_structure(message)
        return _parsed(message, received_at)
    except MalformedMessage:
        raise
    except Exception as error:  # e.g. RecursionError: see _check_structure
        raise MalformedMessage(_unparseable(error)) from error


def _parsed(message: MimeMessage, received_at: datetime | None) -> ParsedMessage:
    headers = _Headers(message)
    from_header, from_addresses = headers.address_list("From")
    if not message.keys() or not from_header:
        raise MalformedMessage("The message has no From header.")
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    to_header, to_addresses = headers.address_list("To")
    cc_header, cc_addresses = headers.address_list("Cc")
    return ParsedMessage(
        message_id=_header(message, "Message-ID"),
        in_reply_to=headers.text("In-Reply-To"),
        references=headers.text("References"),
        threadline_ref=headers.text("X-Threadline-Ref"),
        from_header=from_header,
        # A From we cannot read is kept as text above and names no one.
        from_address=from_addresses[0] if from_addresses else "",
        to_header=to_header,
        cc_header=cc_header,
        recipient_addresses=to_addresses + cc_addresses,
        subject=headers.text("Subject"),
        sent_at=_sent_at(_header(message, "Date"), received_at),
        body_text=_text_of(text_part) if text_part is not None else "",
        body_html=_text_of(html_part) if html_part is not None else "",
        attachments=tuple(_attachment(part) for part in message.iter_attachments()),
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
    cc: list[str] | tuple[str, ...] = (),
    bcc: list[str] | tuple[str, ...] = (),
    subject: str,
    body_text: str,
    body_html: str = "",
    message_id: str,
    threadline_ref: str,
    in_reply_to: str = "",
    references: str = "",
    attachments: list[OutgoingAttachment] | tuple[OutgoingAttachment, ...] = (),
    sent_at: datetime | None = None,
) -> bytes:
    message = MimeMessage(policy=email.policy.SMTP)
    message["From"] = email.utils.formataddr((from_name, from_address))
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if bcc:
        # The provider delivers to Bcc and drops the header from every delivered copy;
        # the sender's copy keeps it, as any mail client's does.
        message["Bcc"] = ", ".join(bcc)
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
