"""The parser's shortcuts (mailsync.mime: the header cache, one walk over the parts, the
address cache) change nothing we store: every field of every message reads as with the
parser as it was before them (kept below, as it was on 2026-11-29: the uncached registry,
get_body and iter_attachments), on the CPython email test corpus and on the shared
recruiting corpus, with the caches warmed by the messages before and again on a second
pass.

ParsedMessage is everything `message_store` takes from a message (headers, addresses,
dates, bodies, attachments' names, types and bytes), so equal ParsedMessages store equal
rows."""

import email
import email.parser
import email.policy
import email.utils
import importlib.util
import os
import re
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import cast

import pytest

from mailsync import mime

ROOT = Path(__file__).resolve().parents[2]
# Beside the repository in a CI clone (THREADLINE_SHARED_DIR: elsewhere, e.g. a worktree).
SHARED_DIR = Path(os.environ.get("THREADLINE_SHARED_DIR", ROOT.parent / "shared"))
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
# The parser as it was: the forgiving registry, no cache.
REFERENCE_POLICY = email.policy.default.clone(header_factory=mime._ForgivingHeaderRegistry())


_REFERENCE_STANDARD_HEADERS = HeaderRegistry()


def _reference_addresses(*texts: str) -> tuple[str, ...]:
    found: list[str] = []
    for text in filter(None, texts):
        try:
            to = cast(AddressHeader, _REFERENCE_STANDARD_HEADERS("To", text))
            specs = [address.addr_spec for address in to.addresses]
        except Exception:
            specs = [address for _, address in email.utils.getaddresses([text])]
        found += (spec.strip().lower() for spec in specs)
    return tuple(address for address in found if mime._ADDRESS.fullmatch(address))


def _reference_header(message: MimeMessage, name: str) -> str:
    return mime._storable(" ".join(str(message.get(name, "")).split()))


def _reference_parsed(message: MimeMessage, received_at: datetime) -> mime.ParsedMessage:
    """mime._parsed as it was, on the standard library's walks."""
    from_header = _reference_header(message, "From")
    if not message.keys() or not from_header:
        raise mime.MalformedMessage("The message has no From header.")
    from_addresses = _reference_addresses(from_header)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    to_header, cc_header = _reference_header(message, "To"), _reference_header(message, "Cc")
    return mime.ParsedMessage(
        message_id=_reference_header(message, "Message-ID"),
        in_reply_to=_reference_header(message, "In-Reply-To"),
        references=_reference_header(message, "References"),
        threadline_ref=_reference_header(message, "X-Threadline-Ref"),
        from_header=from_header,
        from_address=from_addresses[0] if from_addresses else "",
        to_header=to_header,
        cc_header=cc_header,
        recipient_addresses=_reference_addresses(to_header, cc_header),
        subject=_reference_header(message, "Subject"),
        sent_at=mime._sent_at(_reference_header(message, "Date"), received_at),
        body_text=mime._text_of(text_part) if text_part is not None else "",
        body_html=mime._text_of(html_part) if html_part is not None else "",
        attachments=tuple(mime._attachment(part) for part in message.iter_attachments()),
    )


def _reference(raw: bytes) -> mime.ParsedMessage | str:
    """`parse_message` as it was before the cache; a refusal as its reason."""
    try:
        if not raw or not raw.strip():
            raise mime.MalformedMessage("The message is empty.")
        mime._check_parse_cost(raw)
        try:
            message = email.message_from_bytes(raw, policy=REFERENCE_POLICY)
            mime._check_structure(message)
            return _reference_parsed(message, RECEIVED_AT)
        except mime.MalformedMessage:
            raise
        except Exception as error:
            raise mime.MalformedMessage(mime._unparseable(error)) from error
    except mime.MalformedMessage as refused:
        return str(refused)


def _ours(raw: bytes) -> mime.ParsedMessage | str:
    try:
        return mime.parse_message(raw, received_at=RECEIVED_AT)
    except mime.MalformedMessage as refused:
        return str(refused)


def _assert_same(raws: dict[str, bytes]) -> None:
    assert raws
    expected = {name: _reference(raw) for name, raw in raws.items()}
    for _ in range(2):  # the second pass finds every header already made
        for name, raw in raws.items():
            assert _ours(raw) == expected[name], name


def _cpython_corpus() -> dict[str, bytes]:
    try:  # the standard library's test package, where this Python has it
        spec = importlib.util.find_spec("test.test_email")
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:
        pytest.skip("This Python has no test package (Debian ships it apart).")
    data = Path(spec.origin).parent / "data"
    raws = {path.name: path.read_bytes() for path in sorted(data.glob("msg_*.txt"))}
    assert len(raws) > 40  # the corpus is there, not an empty folder
    return raws


def _shared_corpus() -> dict[str, bytes]:
    generator = SHARED_DIR / "peers" / "django-mailbox" / "corpus.py"
    assert generator.exists(), f"the shared corpus generator is missing: {generator}"
    spec = importlib.util.spec_from_file_location("shared_corpus", generator)
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    # The first 150 messages: threads, replies, alternatives and 15 attachments.
    return {str(index): raw for index, raw in enumerate(corpus.corpus(150))}


def test_the_cpython_email_corpus_reads_as_before() -> None:
    _assert_same(_cpython_corpus())


def test_the_shared_recruiting_corpus_reads_as_before() -> None:
    _assert_same(_shared_corpus())


# Where the header block ends in unusual ways: LF, bare CR and mixed line endings, no blank
# line at all, a line that is no header before the blank line, a blank line first, a
# folded header, and a body that looks like headers.
_HEADER_BLOCK_CASES = {
    "lf": b"From: a@example.org\nIn-Reply-To: <x@y>\n\nX-Threadline-Ref: body\n",
    "crlf": b"From: a@example.org\r\nReferences: <x@y>\r\n\r\nMessage-ID: <body@z>\r\n",
    "bare cr": b"From: a@example.org\rMessage-ID: <m@y>\r\rReferences: <body@z>\r",
    "lf then crlf": b"From: a@example.org\nMessage-ID: <m@y>\n\r\nReferences: <b@z>\n",
    "cr then lf blank": b"From: a\r\rIn-Reply-To: <b@z>\n\nReferences: <c@z>\n",
    "no blank line": b"From: a@example.org\r\nMessage-ID: <m@y>\r\n",
    "no header line": b"From: a\r\nnot a header\r\nMessage-ID: <b@z>\r\n\r\nx\r\n",
    "blank first": b"\r\nFrom: a\r\nMessage-ID: <b@z>\r\n",
    "folded": b"From: a\r\nReferences: <a@b>\r\n <c@d>\r\n\r\nbody\r\n",
    "relay": (
        b"Authentication-Results: mx.relay.test; dkim=pass header.d=example.org\r\n"
        b"Authentication-Results: other; dkim=fail\r\nFrom: a@example.org\r\n\r\n"
        b"Authentication-Results: mx.relay.test; spf=pass smtp.mailfrom=evil.test\r\n"
    ),
}


def test_headers_read_from_the_header_block_as_from_the_whole_message() -> None:
    """reference_headers and the relay's Authentication-Results (compat32) read only
    `header_block(raw)`: the same headers as a header parser given the whole message."""
    raws = {**_cpython_corpus(), **_shared_corpus(), **_HEADER_BLOCK_CASES}
    names = ("X-Threadline-Ref", "In-Reply-To", "References", "Message-ID")
    for name, raw in raws.items():
        block = mime.header_block(raw)
        assert raw.startswith(block), name
        for policy in (REFERENCE_POLICY, email.policy.compat32):
            whole = email.parser.BytesHeaderParser(policy=policy).parsebytes(raw)
            cut = email.parser.BytesHeaderParser(policy=policy).parsebytes(block)
            assert cut.items() == whole.items(), name
        reference = email.parser.BytesHeaderParser(policy=REFERENCE_POLICY).parsebytes(raw)
        if reference.keys():
            assert mime.reference_headers(raw) == tuple(
                _reference_header(reference, header) for header in names
            ), name


def test_boundaries_are_counted_as_before() -> None:
    """_check_parse_cost counts boundary parameters in the lower-cased bytes: as many as
    the case-insensitive pattern found."""
    before = re.compile(rb"boundary\*?[0-9]*\*?\s*=", re.IGNORECASE)
    raws = {
        **_cpython_corpus(),
        **_shared_corpus(),
        "cases": b"BOUNDARY=a; Boundary*0*=b; bOuNdArY*12 \t=c; boundary*=d; boundary x=",
    }
    for name, raw in raws.items():
        assert len(mime._BOUNDARY_PARAMETER.findall(raw.lower())) == len(before.findall(raw)), name


def test_headers_too_long_to_cache_read_as_before() -> None:
    boundary = "b" * 1500
    raw = (
        "From: Ana <ana@example.org>\r\nTo: r@demo.test\r\nSubject: long\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    _assert_same({"long": raw})
    parsed = _ours(raw)
    assert isinstance(parsed, mime.ParsedMessage) and parsed.body_text == "hello"
