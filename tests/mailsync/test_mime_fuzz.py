"""Random headers and MIME structures, hostile on purpose: nothing but MalformedMessage
may escape the parser, and whatever it returns can be stored as it is."""

import contextlib
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailsync.mime import (
    EARLIEST_SENT_AT,
    FUTURE_TOLERANCE,
    MalformedMessage,
    ParsedMessage,
    parse_message,
    reference_headers,
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that have tripped e-mail parsers: unbalanced brackets and quotes, encoded words
# with unknown charsets or broken payloads, RFC 2231 continuations, NUL, bytes that are
# not UTF-8, and dates at the edges of what datetime can hold.
TRICKY = [
    "<",
    ">",
    "<<",
    "@",
    "a@[",
    "[",
    "]",
    '"',
    "\\",
    "(",
    ")",
    ",",
    ";",
    ":",
    "=",
    "*",
    "a@b.c",
    "Ada <ada@example.org>",
    "undisclosed-recipients:;",
    "<id@host>",
    "=?utf-8?q?caf=C3=A9?=",
    "=?utf-8?b?Y2Fmw6k=?=",
    "=?bogus?q?x?=",
    "=?utf-8?b?!!?=",
    "=?x-unknown?B?AAAA?=",
    "=?utf-8?q?=ZZ?=",
    "''",
    "%ff",
    "*0*=",
    "filename*=utf-99''%zz",
    "\x00",
    "\t",
    " ",
    "\u202e",
    "\udcff",
    "Fri, 31 Dec 9999 23:59:59 -2359",
    "Mon, 1 Jan 0001 00:00:00 +2359",
    "Thu, 1 Jan 1970 00:00:00 +0000",
    "31 Dec 99999999999999999999 23:59:59",
    "Tue, 29 Feb 2023 25:61:61 +9999",
    "yesterday",
]
HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Subject",
    "X-Threadline-Ref",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "MIME-Version",
    "Content-ID",
    "Sender",
    "Reply-To",
    "Resent-Date",
]
CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "utf-16",
    "x-unknown",
    "base64",
    "idna",
    "raw_unicode_escape",
    "utf-7",
    "",
    '"',
]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus"]


def _to_bytes(text: str) -> bytes:
    # Lone surrogates stand for raw bytes that are not UTF-8, as the parser itself treats them.
    return text.encode("utf-8", errors="surrogateescape")


header_text = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=12)), max_size=8).map(
    "".join
)
header_value = st.one_of(header_text.map(_to_bytes), st.binary(max_size=60))


@st.composite
def header_block(draw) -> bytes:
    names = st.one_of(st.sampled_from(HEADER_NAMES), st.text(min_size=1, max_size=10))
    lines = []
    for name in draw(st.lists(names, max_size=10)):
        value = draw(header_value)
        folded = b"\r\n " if draw(st.booleans()) else b""
        lines.append(_to_bytes(name) + b":" + folded + b" " + value)
    return b"\r\n".join(lines)


body_bytes = st.one_of(
    st.binary(max_size=120),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789+/=!\r\n", max_size=120).map(
        _to_bytes
    ),
    st.lists(st.sampled_from(["=ZZ", "=E9", "=\r\n", "=", "begin 644 x\r\n", "end\r\n", "x"]))
    .map("".join)
    .map(_to_bytes),
)


@st.composite
def leaf_part(draw) -> bytes:
    content_type = draw(
        st.sampled_from(
            [
                "text/plain",
                "text/html",
                "application/pdf",
                "image/png",
                "message/rfc822",
                "text",
                "/",
                "",
            ]
        )
    )
    headers = [
        b"Content-Type: "
        + _to_bytes(content_type)
        + b"; charset="
        + _to_bytes(draw(st.sampled_from(CHARSETS)))
    ]
    headers.append(b"Content-Transfer-Encoding: " + _to_bytes(draw(st.sampled_from(ENCODINGS))))
    if draw(st.booleans()):
        headers.append(b"Content-Disposition: attachment; filename" + draw(header_value))
    return b"\r\n".join([*headers, b"", draw(body_bytes)])


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw) -> bytes:
        boundary = draw(st.sampled_from(["b", "b1", "=_x", "", " ", "--", '"q"', "a" * 80]))
        declared = draw(st.sampled_from([boundary, boundary + "x"]))  # sometimes mismatched
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "digest", "x"]))
        head = _to_bytes(f'Content-Type: multipart/{subtype}; boundary="{declared}"\r\n\r\n')
        delimiter = _to_bytes(f"\r\n--{boundary}\r\n")
        parts = delimiter.join(draw(st.lists(children, max_size=4)))
        closing = _to_bytes(f"\r\n--{boundary}--\r\n") if draw(st.booleans()) else b""
        return head + delimiter + parts + closing

    return build()


mime_body = st.recursive(leaf_part(), multipart, max_leaves=12)


@st.composite
def message(draw) -> bytes:
    return draw(header_block()) + b"\r\n" + draw(mime_body)


def assert_storable(parsed: ParsedMessage) -> None:
    assert parsed.sent_at.tzinfo is not None
    assert parsed.sent_at.utcoffset() == timedelta(0)
    assert EARLIEST_SENT_AT <= parsed.sent_at <= datetime.now(UTC) + FUTURE_TOLERANCE
    texts = [value for value in vars(parsed).values() if isinstance(value, str)]
    texts += list(parsed.recipient_addresses)
    for attachment in parsed.attachments:
        texts += [attachment.filename, attachment.content_type]
        assert isinstance(attachment.content, bytes)
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # the encrypted fields' first step; raises on a lone surrogate


# What a provider or relay may say about when it received the message: nothing, any
# instant at all, naive or at the extreme offsets a datetime can carry.
received_at = st.one_of(
    st.none(),
    st.datetimes(),
    st.datetimes(
        timezones=st.sampled_from(
            [
                UTC,
                timezone(timedelta(hours=23, minutes=59)),
                timezone(-timedelta(hours=23, minutes=59)),
            ]
        )
    ),
)


@FUZZ
@given(message(), received_at)
def test_no_message_makes_the_parser_raise_anything_but_malformed(raw, received_at):
    try:
        parsed = parse_message(raw, received_at=received_at)
    except MalformedMessage:
        return
    assert_storable(parsed)


@FUZZ
@given(message())
def test_no_message_makes_the_header_check_raise_anything_but_malformed(raw):
    try:
        headers = reference_headers(raw)
    except MalformedMessage:
        return
    assert all(isinstance(header, str) and "\x00" not in header for header in headers)


@FUZZ
@given(st.binary(max_size=400))
def test_no_bytes_at_all_make_the_parser_raise_anything_but_malformed(raw):
    for read in (parse_message, reference_headers):
        with contextlib.suppress(MalformedMessage):
            read(raw)
