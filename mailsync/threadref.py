"""The signed reference that proves a message belongs to a thread started in Threadline.

Every message we send carries it twice: inside its Message-ID
(`<tl.<thread>.<nonce>.<sig>@<domain>>`) and in an `X-Threadline-Ref: <thread>.<sig>`
header. A reply quotes our Message-ID in In-Reply-To/References, so the reply itself
proves which thread it belongs to, with no database lookup; a forged or altered
reference fails the HMAC check and the message is treated as not of interest.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.utils.crypto import salted_hmac

_SIGNATURE_HEX = 24  # 96 bits: forging one by guessing is out of reach (and in the patterns)
_REF = re.compile(r"\b([0-9a-f]{32})\.([0-9a-f]{24})\b")
_MESSAGE_ID = re.compile(r"<tl\.([0-9a-f]{32})\.([0-9a-z]{8,32})\.([0-9a-f]{24})@([^>\s]+)>")


def _key() -> str:
    return settings.THREADLINE_REF_SECRET or settings.SECRET_KEY


def _signature(thread_hex: str) -> str:
    digest = salted_hmac(
        "threadline.mailsync.threadref", thread_hex, secret=_key(), algorithm="sha256"
    ).hexdigest()
    return digest[:_SIGNATURE_HEX]


def thread_ref(thread_id: uuid.UUID) -> str:
    """The X-Threadline-Ref header value for a thread."""
    return f"{thread_id.hex}.{_signature(thread_id.hex)}"


def new_message_id(thread_id: uuid.UUID) -> str:
    """A fresh, unique Message-ID that carries the thread's signature."""
    nonce = secrets.token_hex(8)
    return (
        f"<tl.{thread_id.hex}.{nonce}.{_signature(thread_id.hex)}"
        f"@{settings.THREADLINE_MESSAGE_ID_DOMAIN}>"
    )


def thread_from_headers(values: Iterable[str | None]) -> uuid.UUID | None:
    """The thread named by the first validly signed reference in these header values
    (Message-ID, In-Reply-To, References, X-Threadline-Ref), or None."""
    for value in values:
        if not value:
            continue
        for thread_hex, signature in _candidates(value):
            if hmac.compare_digest(signature, _signature(thread_hex)):
                return uuid.UUID(thread_hex)
    return None


def _candidates(value: str) -> list[tuple[str, str]]:
    found = [(m.group(1), m.group(3)) for m in _MESSAGE_ID.finditer(value)]
    if not found and "@" not in value:
        found = [(m.group(1), m.group(2)) for m in _REF.finditer(value)]
    return found


def message_id_digest(message_id: str) -> str:
    """Keyed hash of a Message-ID, for uniqueness checks without keeping the header in clear."""
    normalised = message_id.strip().strip("<>").strip()
    return hmac.new(_key().encode(), normalised.encode(), hashlib.sha256).hexdigest()
