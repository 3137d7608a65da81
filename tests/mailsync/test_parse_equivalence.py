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
import email.policy
import email.utils
import importlib.util
import os
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


def test_the_cpython_email_corpus_reads_as_before() -> None:
    try:  # the standard library's test package, where this Python has it
        spec = importlib.util.find_spec("test.test_email")
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:
        pytest.skip("This Python has no test package (Debian ships it apart).")
    data = Path(spec.origin).parent / "data"
    raws = {path.name: path.read_bytes() for path in sorted(data.glob("msg_*.txt"))}
    assert len(raws) > 40  # the corpus is there, not an empty folder
    _assert_same(raws)


def test_the_shared_recruiting_corpus_reads_as_before() -> None:
    generator = SHARED_DIR / "peers" / "django-mailbox" / "corpus.py"
    assert generator.exists(), f"the shared corpus generator is missing: {generator}"
    spec = importlib.util.spec_from_file_location("shared_corpus", generator)
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    # The first 150 messages: threads, replies, alternatives and 15 attachments.
    raws = {str(index): raw for index, raw in enumerate(corpus.corpus(150))}
    _assert_same(raws)


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
