"""Mailgun's side of limited sync: a route whose action is `forward("<url ending in mime>")`
posts each message it receives, raw, to that URL. The sandbox plays it for copies that a
customer's routing rule sends to Threadline's inbound domain.

The form is the one Mailgun documents for raw-MIME forwards ("Receiving Messages via HTTP
through a forward() action"): `recipient` and `sender` from the SMTP envelope, `from` and
`subject` from the headers, `body-mime` the whole message, and the webhook signature fields
`timestamp`, `token` (50 random characters) and `signature` (hex HMAC-SHA256 of timestamp
followed by token, keyed with the domain's webhook signing key). Posted as
multipart/form-data, as Mailgun does.
"""

import email.message
import email.parser
import email.policy
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.utils import timezone

from sandbox import mime, requestlog
from sandbox.models import RequestLog, RoutingForward

# Mailgun waits on the webhook for a while before counting the post as failed.
POST_TIMEOUT_SECONDS = 10.0
TOKEN_LENGTH = 50
FORWARD_OPERATION = "mailgun.routes.forward"


def signature_for(*, timestamp: str, token: str, signing_key: str) -> str:
    return hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()


def relay_stamp(raw: bytes) -> bytes:
    """What Mailgun's MX does to a message it receives: verify its DKIM signatures and put
    its own Authentication-Results header on top, after removing any that claim its
    authserv-id (RFC 8601, section 5), so that a sender cannot vouch for itself."""
    authserv_id = settings.INBOUND_AUTHSERV_ID
    if b":" not in mime.split_head(raw)[0].split(b"\n", 1)[0]:
        return raw  # not a message: passed on as it came, for the webhook to refuse
    passed, failed = mime.dkim_verified_domains(raw)
    results = [f"dkim=pass header.d={domain}" for domain in sorted(passed)]
    results += [f"dkim=fail header.d={domain}" for domain in sorted(failed)]
    header = f"Authentication-Results: {authserv_id}; " + ("; ".join(results) or "dkim=none")
    # Any header claiming to be ours was written before the message reached us.
    raw = mime.drop_header(raw, "Authentication-Results", value_prefix=authserv_id)
    newline = b"\r\n" if b"\r\n" in mime.split_head(raw)[0] else b"\n"
    return header.encode() + newline + raw


def _header_text(headers: email.message.EmailMessage, raw: bytes, name: str) -> str:
    try:
        return str(headers.get(name) or "")
    except Exception:  # Python's parser chokes on e.g. `From: a@[`; Mailgun posts it as written
        written = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        return str(written.get(name) or "")


def signed_fields(
    *,
    raw: bytes,
    recipient: str,
    sender: str,
    signing_key: str,
    timestamp: int | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """The form fields of one raw-MIME forward: exactly what Mailgun posts, signed."""
    # Headers only: Mailgun reads From and Subject without decoding the body.
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(TOKEN_LENGTH // 2)
    return {
        "recipient": recipient,
        "sender": sender,
        "from": _header_text(headers, raw, "From"),
        "subject": _header_text(headers, raw, "Subject"),
        # Mail is 7-bit or UTF-8 in practice; stray bytes of another charset become U+FFFD.
        "body-mime": relay_stamp(raw).decode("utf-8", errors="replace"),
        "timestamp": stamp,
        "token": token,
        "signature": signature_for(timestamp=stamp, token=token, signing_key=signing_key),
    }


def post(*, url: str, fields: dict, timeout: float) -> int:
    """POST the fields as multipart/form-data (no file names, like Mailgun's own parts);
    returns the webhook's status code. Connection errors and timeouts are raised."""
    parts = {name: (None, value) for name, value in fields.items()}
    return requests.post(url, files=parts, timeout=timeout).status_code


@dataclass
class ForwardResult:
    status: int  # 0: no answer (connection refused, timeout, …)
    error: str


def forward_deliver(*, forward_id: int, raw: bytes, sender: str, provider: str) -> ForwardResult:
    """Post one claimed copy to the webhook and record the answer on the forward and in
    the request log. Never raises for a webhook that is down: the sender's mail provider
    has long accepted the message by the time Mailgun tries."""
    forward = RoutingForward.objects.select_related("rule").get(pk=forward_id)
    url = settings.SANDBOX_MAILGUN_WEBHOOK_URL
    fields = signed_fields(
        raw=raw,
        recipient=forward.rule.also_deliver_to,
        sender=sender,
        signing_key=settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] or "",
    )
    started = time.perf_counter()
    try:
        result = ForwardResult(post(url=url, fields=fields, timeout=POST_TIMEOUT_SECONDS), "")
    except requests.RequestException as error:
        result = ForwardResult(0, f"{type(error).__name__}: {error}"[:500])
    duration_ms = (time.perf_counter() - started) * 1000
    forward.status, forward.error, forward.posted_at = result.status, result.error, timezone.now()
    forward.save(update_fields=["status", "error", "posted_at"])
    # No mailbox on the entry: it is not a call on the mailbox's API, and per-mailbox
    # figures (benchmarks, tests counting calls) must not count it.
    requestlog.log_write(
        [
            RequestLog(
                provider=provider,
                method="POST",
                path=url,
                operation=FORWARD_OPERATION,
                status=result.status,
                duration_ms=duration_ms,
            )
        ]
    )
    return result
