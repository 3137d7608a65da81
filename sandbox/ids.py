"""Identifier formats of each provider, so clients meet ids shaped like the real ones.

Gmail ids are 16 hex digits growing with time. Graph ids are long base64 strings with "-",
"_" and "=" in them (clients must URL-encode them), in three families that start like
Exchange's: REST ids ("AAMkA…", change when a message moves folder), immutable ids
("AAkALg…", never change within the mailbox) and conversation ids ("AAQkA…").
"""

import base64
import secrets


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def gmail_message_id(internal_date_ms: int) -> str:
    # A random tail keeps ids unique when two messages share a millisecond.
    return f"{internal_date_ms & 0xFFFFFFFFFFF:011x}{secrets.randbits(20):05x}"


def graph_rest_id() -> str:
    # 71 random bytes encode to 96 characters ending in "=", like Exchange's REST ids.
    return "AAMkA" + _b64(secrets.token_bytes(71))


def graph_immutable_id() -> str:
    return "AAkALg" + _b64(secrets.token_bytes(71))


def graph_conversation_id() -> str:
    return "AAQkA" + _b64(secrets.token_bytes(32))


def google_event_id() -> str:
    # Calendar event ids are base32hex (lowercase a-v and digits), 26 characters when
    # Google picks them.
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def google_meet_code() -> str:
    """A Meet meeting code, "abc-defg-hij"."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "-".join("".join(secrets.choice(letters) for _ in range(n)) for n in (3, 4, 3))


def b64_text(text: str) -> str:
    """URL-safe base64 without padding, as Google writes the `eid` of an event link."""
    return _b64(text.encode()).rstrip("=")
