"""The parser's shortcuts (mailsync.mime: the header cache, the simple address lists read
without the parser) change nothing we store: every field of every message reads as with the
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
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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
        attachments=tuple(_reference_attachment(part) for part in message.iter_attachments()),
    )


def _reference_attachment(part: MimeMessage) -> mime.ParsedAttachment:
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    payload = part.get_payload(decode=True)
    return mime.ParsedAttachment(
        filename=mime._storable(" ".join((filename or "").split())) or "attachment",
        content_type=mime._storable(part.get_content_type()),
        content=payload if isinstance(payload, bytes) else b"",
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


# --- The address shortcut (mime._simple_address_list) -------------------------------------

# Pieces of address lists: what the shortcut reads, and the near-misses it must leave to
# the parser (quotes, comments, dots and encoded words in names, groups, literals, folding,
# empty items, non-ASCII, brackets out of place).
ADDRESS_PIECES = [
    "Ana", "Lima", "O'Neil", "Jean-Luc", "ana", "lima", "a_b", "x+tag", "42",
    " ", "  ", "\t", "\r\n ", "<", ">", "@", ".", "..", ",", ", ", "example", "org",
    "example.org", "ana@example.org", "Ana Lima <ana@example.org>", "<ana@example.org>",
    '"', '"Lima, Ana"', "(", ")", "(comment)", ":", ";", "team:", "[", "]", "[1.2.3.4]",
    "=?utf-8?q?Ana_=C3=A9?=", "=?", "?=", "é", "\\", "-", "'", "_", "+", "localhost",
]  # fmt: skip
_SIMPLE_WORD = st.from_regex(r"[A-Za-z0-9'_-]{1,8}", fullmatch=True)
_SIMPLE_SPEC = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[A-Za-z0-9_+-]{1,6}(\.[A-Za-z0-9_+-]{1,4})?", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True),
    st.sampled_from(["org", "com", "co.uk", "test"]),
)
_SIMPLE_MAILBOX = st.one_of(
    _SIMPLE_SPEC,
    st.builds(
        "{}{}<{}>{}".format,
        st.lists(_SIMPLE_WORD, max_size=3).map(" ".join),
        st.sampled_from(["", " ", "  ", "\t"]),
        _SIMPLE_SPEC,
        st.sampled_from(["", " "]),
    ),
)
# Any character where the shortcut allows only some: in names, local parts and domains.
_ANY_CHARACTERS = st.text(
    alphabet=st.sampled_from(list("Aa0 .\t\"()\\,:;<>@[]=?'_-+!#$%&*/^`{|}~é\u00a0")),
    min_size=1,
    max_size=8,
)
_NEAR_MISS_MAILBOX = st.one_of(
    st.builds("{} <{}>".format, _ANY_CHARACTERS, _SIMPLE_SPEC),
    st.builds("{}@example.org".format, _ANY_CHARACTERS),
    st.builds("Ana <ana@{}>".format, _ANY_CHARACTERS),
)
ADDRESS_LISTS = st.one_of(
    # Written simply, as most mail is: the shortcut's own ground.
    st.lists(_SIMPLE_MAILBOX, min_size=1, max_size=3).map(", ".join),
    # One odd character or more where the shortcut is strict.
    st.lists(st.one_of(_SIMPLE_MAILBOX, _NEAR_MISS_MAILBOX), min_size=1, max_size=2).map(", ".join),
    # A simple list with a piece spliced in: mostly near-misses.
    st.tuples(
        st.lists(_SIMPLE_MAILBOX, min_size=1, max_size=2).map(", ".join),
        st.integers(min_value=0, max_value=60),
        st.sampled_from(ADDRESS_PIECES),
    ).map(lambda spliced: spliced[0][: spliced[1]] + spliced[2] + spliced[0][spliced[1] :]),
    # Pieces at random.
    st.lists(st.sampled_from(ADDRESS_PIECES), max_size=8).map("".join),
)


# Unstructured text (Subject, In-Reply-To, References): plain ASCII, which the shortcut
# reads as written, and what it must leave to the parser.
TEXT_PIECES = [
    "Re:", "Interview", " ", "  ", "\t", "\r\n ", "\r\n\t", "<a1@example.org>", "<", ">",
    "=?utf-8?q?Entrevista_=C3=A9?=", "=?", "?=", "=?utf-8?b?w6k=?=", "é", "\u00a0", "\x7f",
    "\x01", '"', "(", ")", "\\", ",", ";", "@", "x" * 80,
]  # fmt: skip
TEXTS = st.lists(st.sampled_from(TEXT_PIECES), max_size=8).map("".join)


def _with_headers(from_: str, to: str, cc: str, subject: str = "s", references: str = "") -> bytes:
    return (
        f"From: {from_}\r\nTo: {to}\r\nCc: {cc}\r\nSubject: {subject}\r\n"
        f"References: {references}\r\nIn-Reply-To: {references}\r\n\r\nbody\r\n"
    ).encode("utf-8", errors="surrogateescape")


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ADDRESS_LISTS, ADDRESS_LISTS, ADDRESS_LISTS)
# Near-misses the parser reads otherwise than as written: the shortcut must refuse them.
@example('"Ana" <ana@example.org>', "Ana (work) <ana@example.org>", "(x) <ana@example.org>")
@example('"Ana <ana@example.org>', 'Ana" <ana@example.org>', "ana@example.org (Ana)")
@example("=?utf-8?q?Ana?= <ana@example.org>", "Ana <ana@[1.2.3.4]>", "ana.@example.org")
def test_address_lists_read_by_the_shortcut_as_by_the_parser(from_: str, to: str, cc: str) -> None:
    raw = _with_headers(from_, to, cc)
    assert _ours(raw) == _reference(raw)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(TEXTS, TEXTS)
@example("=?utf-8?q?Entrevista_=C3=A9?=", "=?utf-8?b?w6k=?= <a1@example.org>")
@example("Caf\u00e9 \x01 ok", "<a1@example.org>\r\n\t<a2@example.org>")
def test_unstructured_text_read_by_the_shortcut_as_by_the_parser(
    subject: str, references: str
) -> None:
    raw = _with_headers("Ana <ana@example.org>", "r@demo.test", "", subject, references)
    assert _ours(raw) == _reference(raw)


def test_the_shortcut_reads_simple_lists_and_leaves_the_rest_to_the_parser() -> None:
    """The shortcut is taken where it can be (else the test above proves nothing about it)
    and refused where a simple reading could be wrong."""
    assert mime._simple_address_list("Ana  Lima <Ana.Lima@Example.org>, b@x.test") == (
        "Ana Lima <Ana.Lima@Example.org>, b@x.test",
        ("ana.lima@example.org", "b@x.test"),
    )
    assert mime._simple_address_list("<ana@example.org>") == (
        "ana@example.org",
        ("ana@example.org",),
    )
    for written in [
        '"Lima, Ana" <ana@example.org>',  # a quoted name
        "Ana (work) <ana@example.org>",  # a comment
        "A. Lima <ana@example.org>",  # a dot in a name is obsolete syntax
        "=?utf-8?q?Ana?= <ana@example.org>",  # an encoded word
        "team: ana@example.org;",  # a group
        "ana@[1.2.3.4]",  # a domain literal
        "ana@localhost",  # a domain of one label
        "ana..lima@example.org",  # not a dot-atom
        "ana@example.org,",  # an empty item
        "Zoë <zoe@example.org>",  # not ASCII
        "",
    ]:
        assert mime._simple_address_list(written) is None, written


# --- Long base64 runs set aside while the standard library parses (mime._parsed_mime) ---


def _tree(message: email.message.Message) -> list[tuple[object, ...]]:
    """Everything the parser decided about a message, part by part: headers as written,
    each leaf's payload text exactly as stored, preamble, epilogue, defects, envelope."""
    return [
        (
            part.get_unixfrom(),
            [(name, str(value)) for name, value in part.items()],
            None if part.is_multipart() else part._payload,  # type: ignore[attr-defined]
            part.preamble,
            part.epilogue,
            [type(defect) for defect in part.defects],
        )
        for part in message.walk()
    ]


def _assert_parsed_alike(raw: bytes) -> None:
    expected = _tree(email.message_from_bytes(raw, policy=mime._POLICY))
    assert _tree(mime._parsed_mime(raw)) == expected


def _base64_lines(size: int, *, width: int = 76) -> list[str]:
    text = "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64]
                   for i in range(size))  # fmt: skip
    return [text[i : i + width] for i in range(0, len(text), width)] + ["===="[: size % 3]]


def _mime_case(shape: str, size: int, eol: str, trailing: int) -> bytes:
    """A message of `shape` holding a run of base64 `size` characters long (around the
    shortest run set aside), with `trailing` blank lines after it."""
    run = eol.join(_base64_lines(size)) + eol * (1 + trailing)
    head = f"From: a@example.org{eol}Subject: s{eol}MIME-Version: 1.0{eol}"
    attachment = (
        f"Content-Type: application/pdf; name=cv.pdf{eol}"
        f"Content-Transfer-Encoding: base64{eol}{eol}{run}"
    )
    mixed = f'Content-Type: multipart/mixed; boundary="b1"{eol}{eol}'
    text = f"--b1{eol}Content-Type: text/plain{eol}{eol}Hello{eol}"
    bodies = {
        "single part": f"{head}{attachment}",
        "attachment": f"{head}{mixed}{text}--b1{eol}{attachment}--b1--{eol}",
        "two attachments": f"{head}{mixed}--b1{eol}{attachment}--b1{eol}{attachment}--b1--{eol}",
        "no close boundary": f"{head}{mixed}{text}--b1{eol}{attachment}",
        "nested": (
            f"{head}{mixed}--b1{eol}Content-Type: multipart/alternative; boundary=b2{eol}{eol}"
            f"--b2{eol}{attachment}--b2--{eol}--b1{eol}{attachment}--b1--{eol}"
        ),
        # The run is where the encapsulated message's headers would start: no header.
        "headerless rfc822": (
            f"{head}{mixed}--b1{eol}Content-Type: message/rfc822{eol}{eol}{run}--b1--{eol}"
        ),
        # The encapsulated message has no headers, and says so with a blank line.
        "rfc822 after a blank line": (
            f"{head}{mixed}--b1{eol}Content-Type: message/rfc822{eol}{eol}{eol}{run}--b1--{eol}"
        ),
        # Blank lines separate header blocks here: a run holding one must not be set aside.
        "delivery status": (
            f"{head}{mixed}--b1{eol}Content-Type: message/delivery-status{eol}{eol}"
            f"{run}{eol}{run}--b1--{eol}"
        ),
        "preamble": f"{head}{mixed}{run}{text}--b1--{eol}",
        "epilogue": f"{head}{mixed}{text}--b1--{eol}{eol}{run}",
        "no part headers": f"{head}{mixed}--b1{eol}{eol}{run}--b1--{eol}",
        "text after the run": f"{head}{mixed}--b1{eol}{eol}{run}Regards, Ana{eol}--b1--{eol}",
        "no line end at the end": f"{head}{attachment}".rstrip("\r\n"),
        "a blank line inside": f"{head}{attachment}".replace(
            f"{eol}MNOPQRSTUVWXYZ", f"{eol}{eol}MNOPQRSTUVWXYZ", 1
        ),
    }
    return bodies[shape].encode("ascii")


_RUN_SHAPES = [
    "single part", "attachment", "two attachments", "no close boundary", "nested",
    "headerless rfc822", "rfc822 after a blank line", "delivery status", "preamble",
    "epilogue", "no part headers",
    "text after the run", "no line end at the end", "a blank line inside",
]  # fmt: skip


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.sampled_from(_RUN_SHAPES),
    st.integers(min_value=mime._RUN_SHORTEST - 100, max_value=mime._RUN_SHORTEST * 3),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(min_value=0, max_value=2),
)
def test_messages_with_long_base64_runs_parse_as_the_parser_parses_them(
    shape: str, size: int, eol: str, trailing: int
) -> None:
    _assert_parsed_alike(_mime_case(shape, size, eol, trailing))


def test_both_corpora_parse_as_the_parser_parses_them() -> None:
    for raw in [*_cpython_corpus().values(), *_shared_corpus().values()]:
        _assert_parsed_alike(raw)


def test_long_runs_are_set_aside_where_they_can_be_and_nowhere_else() -> None:
    """The shortcut is taken (else the tests above prove nothing about it) and its result
    used only when every run went back into a part's text."""
    size = 3 * mime._RUN_SHORTEST
    for shape in ["single part", "attachment", "two attachments", "nested", "headerless rfc822"]:
        raw = _mime_case(shape, size, "\r\n", 1)
        skeleton, runs = mime._long_runs_set_aside(raw)
        assert runs and len(skeleton) < len(raw) - size, shape
        message = email.message_from_bytes(skeleton, policy=mime._POLICY)
        assert mime._runs_put_back(message, runs), shape
    # In the preamble or epilogue a run's stand-in is in no part's text: parsed as it came.
    for shape in ["preamble", "epilogue"]:
        skeleton, runs = mime._long_runs_set_aside(_mime_case(shape, size, "\n", 0))
        message = email.message_from_bytes(skeleton, policy=mime._POLICY)
        assert runs and not mime._runs_put_back(message, runs), shape
    # Many runs in one part's text go back each to its place.
    many = b"From: a@example.org\n\n" + (b"QUJD" * 19 + b"\n") * 40 + b"-\n\n"
    many += many[len(b"From: a@example.org\n\n") :] * 29
    assert len(mime._long_runs_set_aside(many)[1]) == 30
    _assert_parsed_alike(many)
    # A stand-in seen twice, and the skeleton is not used.
    stand_in = "threadlinerun" + "0" * 32 + "n0x"
    twice = email.message_from_string(f"From: a\n\n{stand_in}\n{stand_in}\n")
    assert not mime._runs_put_back(twice, {stand_in: "QUJD"})
    # Blank lines separate a delivery status's blocks: parsed as it came.
    skeleton, runs = mime._long_runs_set_aside(_mime_case("delivery status", size, "\n", 0))
    message = email.message_from_bytes(skeleton, policy=mime._POLICY)
    assert runs and not mime._runs_put_back(message, runs)
    # Stretches holding a "-" or a space, and short ones, are not set aside.
    for raw in [
        b"From: a\n\n" + b"A" * size + b"-" + b"A" * size + b"\n",
        b"From: a\n\n" + b"A" * size + b" " + b"A" * size + b"\n",
        _mime_case("single part", mime._RUN_SHORTEST // 2, "\n", 0),
    ]:
        assert mime._long_runs_set_aside(raw)[1] == {}


# --- Base64 decoded without the split into lines (mime._decoded_payload) -----------------

BASE64_BODIES = [
    "QUJD", "QUJDRA==", "QUJDRA=", "QUJDRA", "QUJ\r\nDRA==", "QU\nJD\rRA\r\n==\n", "QUJD\n\n",
    "QU=JD", "QUJD====", "=QUJD", "QUJD RA==", "QUJD\tRA==", "QU*JD", "QUJDR", "", "\n",
    "QUJD\x0bRA==", "QUJD\x0cRA==", "QUJDRA==QUJD", "QUJD\udce9RA==", "QUJD\udcffRA==",
]  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from([*BASE64_BODIES, "QUJD" * 19 + "\r\n", "+/+/", "AA=="])))
@example(BASE64_BODIES)
def test_base64_decodes_as_get_payload_decodes_it(pieces: list[str]) -> None:
    """Payload text, decoded bytes and the defects recorded, for clean, unpadded,
    mispadded and dirty base64 (odd characters, other line breaks, and bytes that are no
    ASCII, which the parser keeps as surrogates)."""
    for cte in ["base64", "BASE64", "quoted-printable", ""]:
        ours, theirs = MimeMessage(), MimeMessage()
        for part in (ours, theirs):
            part["Content-Type"] = "application/pdf"
            if cte:
                part["Content-Transfer-Encoding"] = cte
            part.set_payload("".join(pieces))
        assert mime._decoded_payload(ours) == theirs.get_payload(decode=True)
        assert [type(d) for d in ours.defects] == [type(d) for d in theirs.defects]


def test_clean_base64_is_decoded_without_get_payload() -> None:
    """The shortcut is taken for clean base64 (else the test above says nothing of it)."""

    class Refusing(MimeMessage):
        def get_payload(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise AssertionError("get_payload was asked")

    part = Refusing()
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload("QUJD\r\nRA==\r\n")
    assert mime._decoded_payload(part) == b"ABCD"
