"""Messages that used to make the parser raise (issue 9, observation 1): each is now read,
with what cannot be understood kept as text, or refused as MalformedMessage."""

import base64
from datetime import UTC, datetime, timedelta

import pytest

from mailsync.mime import (
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    MalformedMessage,
    parse_message,
    reference_headers,
)

RECEIVED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def message(*headers: str, body: bytes = b"Thanks, Tuesday works.", head: bytes = b"") -> bytes:
    defaults = {
        "From": "Ada Visible <ada@example.org>",
        "To": "rita@recruiting.test",
        "Subject": "Re: Platform role",
        "Date": "Mon, 23 Nov 2026 10:00:00 +0000",
        "Message-ID": "<reply-1@mail.example.org>",
    }
    given = dict(header.split(": ", 1) for header in headers)
    lines = [f"{name}: {value}" for name, value in {**defaults, **given}.items() if value]
    # Lone surrogates stand for bytes that are not UTF-8.
    return "\r\n".join(lines).encode(errors="surrogateescape") + b"\r\n" + head + b"\r\n" + body


def seconds_from_now(moment: datetime) -> float:
    return abs((moment - datetime.now(UTC)).total_seconds())


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 -2359",  # a valid date whose UTC is in the year 10000
        "Fri, 31 Dec 99999999999999999999 23:59:59 +0000",  # too large for a C integer
        "Tue, 29 Feb 2023 25:61:61 +9999",
        "Thu, 1 Jan 1969 00:00:00 +0000",  # before Unix time
        "Sat, 1 Jan 2150 00:00:00 +0000",  # far in the future
        "yesterday-ish",
        "",
    ],
)
def test_an_impossible_date_falls_back_to_when_the_message_was_received(date):
    parsed = parse_message(message(f"Date: {date}"), received_at=RECEIVED)

    assert parsed.sent_at == RECEIVED
    assert parsed.sent_at.utcoffset() == timedelta(0)


def test_without_a_received_date_an_impossible_date_falls_back_to_now():
    parsed = parse_message(message("Date: Fri, 31 Dec 9999 23:59:59 -2359"))

    assert parsed.sent_at.tzinfo is not None
    assert seconds_from_now(parsed.sent_at) < 60


def test_a_plausible_date_is_kept_and_given_in_utc():
    parsed = parse_message(message("Date: Mon, 23 Nov 2026 10:00:00 +0200"), received_at=RECEIVED)

    assert parsed.sent_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert parsed.sent_at.tzinfo == UTC


def test_a_clock_a_little_ahead_is_believed():
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    raw = message(f"Date: {soon.strftime('%a, %d %b %Y %H:%M:%S +0000')}")

    assert parse_message(raw, received_at=RECEIVED).sent_at == soon


def test_a_received_date_without_a_zone_is_taken_as_utc():
    parsed = parse_message(message("Date: never"), received_at=datetime(2026, 11, 20, 9, 30))

    assert parsed.sent_at == RECEIVED


def test_an_unparseable_cc_is_kept_as_text_and_only_its_addresses_are_recipients():
    parsed = parse_message(message("Cc: a@[, Bea <bea@example.org>"))

    assert parsed.cc_header == "a@[, Bea <bea@example.org>"
    assert parsed.recipient_addresses == ("rita@recruiting.test", "bea@example.org")


def test_an_unparseable_message_id_is_kept_as_text():
    raw = message("Message-ID: <")

    assert parse_message(raw).message_id == "<"
    assert reference_headers(raw) == ("", "", "", "<")


def test_unparseable_references_do_not_hide_the_others():
    raw = message("In-Reply-To: <<<>", "References: <", "X-Threadline-Ref: abc.def")

    assert reference_headers(raw) == ("abc.def", "<<<>", "<", "<reply-1@mail.example.org>")


def test_an_unparseable_from_is_kept_as_text_and_names_no_sender():
    parsed = parse_message(message("From: Ada <a@[>"))

    assert parsed.from_header == "Ada <a@[>"
    assert parsed.from_address == ""


@pytest.mark.parametrize("raw", [message("From: "), b"To: b@example.org\r\n\r\nHi"])
def test_a_message_without_any_from_is_malformed(raw):
    with pytest.raises(MalformedMessage):
        parse_message(raw)


def test_nul_characters_and_bytes_that_are_not_utf8_become_storable_text():
    raw = message(
        "Subject: caf\udce9 \x00menu",
        "Message-ID: <a\x00b@example.org>",
    )

    parsed = parse_message(raw)

    assert parsed.subject == "caf\ufffd menu"
    assert parsed.message_id == "<ab@example.org>"


def test_a_huge_header_line_is_read():
    parsed = parse_message(message("Subject: " + "a" * 1_000_000))

    assert len(parsed.subject) == 1_000_000


def test_an_unknown_charset_and_broken_quoted_printable_still_give_text():
    head = (
        b"Content-Type: text/plain; charset=x-unknown\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
    )

    parsed = parse_message(message(body=b"Caf=C3=A9 =ZZ ok", head=head))

    assert parsed.body_text == "Café =ZZ ok"


@pytest.mark.parametrize("charset", ["raw_unicode_escape", "unicode_escape"])
def test_a_charset_that_decodes_to_lone_surrogates_gives_storable_text(charset):
    head = f"Content-Type: text/plain; charset={charset}\r\n".encode()

    parsed = parse_message(message(body=b"a\\udc80b", head=head))

    parsed.body_text.encode("utf-8")
    assert parsed.body_text == "a?b"


def multipart(*parts: bytes, boundary: str = "b0") -> bytes:
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return delimiter + delimiter.join(parts) + f"\r\n--{boundary}--\r\n".encode()


MIXED = b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n"
TEXT = b"Content-Type: text/plain\r\n\r\nSee attached."


def test_an_attachment_with_a_broken_name_and_unpadded_base64_is_kept():
    attachment = (
        b"Content-Type: application/pdf; name*=utf-99''%ff%zz\r\n"
        b"Content-Disposition: attachment; filename*=bogus''%zz%ff\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"%PDF-1.7 portfolio").rstrip(b"=")
    )

    parsed = parse_message(message(head=MIXED, body=multipart(TEXT, attachment)))

    assert parsed.body_text.strip() == "See attached."
    [kept] = parsed.attachments
    assert kept.filename.startswith("%zz")
    assert kept.content_type == "application/pdf"
    assert kept.content == b"%PDF-1.7 portfolio"


def test_a_content_type_with_nul_characters_is_storable():
    attachment = b"Content-Type: application/p\x00df\r\nContent-Disposition: attachment\r\n\r\nx"

    parsed = parse_message(message(head=MIXED, body=multipart(TEXT, attachment)))

    assert parsed.attachments[0].content_type == "application/pdf"


def nested(depth: int, *, tail: bytes = b"") -> bytes:
    """A message whose multiparts each hold the next one, `depth` of them."""
    inner = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level - 1, level)
        for level in range(1, depth)
    )
    return message(
        head=b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n",
        body=inner + b"--b%d\r\n" % (depth - 1) + TEXT + tail,
    )


@pytest.mark.parametrize("depth", [MAX_MIME_DEPTH + 1, 2000])
def test_multiparts_nested_beyond_the_limit_are_malformed(depth):
    with pytest.raises(MalformedMessage):
        parse_message(nested(depth))


def test_messages_nested_in_messages_beyond_what_python_can_recurse_are_malformed():
    forwarded = b"Content-Type: message/rfc822\r\n\r\n" * 5000 + TEXT

    with pytest.raises(MalformedMessage, match="RecursionError"):
        parse_message(message(head=b"Content-Type: message/rfc822\r\n", body=forwarded))


def test_multiparts_nested_up_to_the_limit_are_read():
    parsed = parse_message(nested(MAX_MIME_DEPTH))

    assert parsed.body_text.strip() == "See attached."


def test_more_parts_than_the_limit_are_malformed():
    with pytest.raises(MalformedMessage, match="parts"):
        parse_message(message(head=MIXED, body=multipart(*[TEXT] * MAX_MIME_PARTS)))


def test_many_lines_inside_many_multiparts_are_refused_before_parsing():
    """Parsing time is lines x open multiparts: this one would take about a minute."""
    with pytest.raises(MalformedMessage, match="too many lines"):
        parse_message(nested(MAX_MIME_DEPTH, tail=b"\n" * 12_000_000))
