"""What the relay that received a routed message says about who sent it (RFC 8601).

A From header is the writer's claim. Under limited sync, a routed message From one of our
users is counted as theirs only when the receiving relay's Authentication-Results header
says that DKIM passed for the From address's domain, or SPF passed for it. Only the
topmost Authentication-Results header is read, and only when it carries the relay's own
authserv-id: a header written further down the way, or by the sender, proves nothing.
"""

import email.parser
import email.policy
import re

from django.conf import settings

from mailsync.mime import header_block

# `method=result` followed by its properties, up to the next ";".
_RESULT = re.compile(r"(?P<method>dkim|spf)\s*=\s*(?P<result>[a-z]+)(?P<properties>[^;]*)", re.I)
_PROPERTY = re.compile(r"(?:header\.d|header\.i|smtp\.mailfrom|smtp\.from)\s*=\s*(\S+)", re.I)
_COMMENT = re.compile(r"\([^()]*\)")


def _domain(value: str) -> str:
    return value.strip().strip("<>\"';").rsplit("@", 1)[-1].strip(".").lower()


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other (DMARC's
    organisational-domain rule, without the public-suffix list)."""
    if not domain or not from_domain:
        return False
    return (
        domain == from_domain
        or from_domain.endswith("." + domain)
        or domain.endswith("." + from_domain)
    )


def relay_passed_for(raw: bytes, from_address: str) -> bool:
    """Whether the relay says DKIM or SPF passed for `from_address`'s domain. Never raises:
    anything unreadable counts as not authenticated."""
    trusted = settings.INBOUND_AUTHSERV_ID.lower()
    if not trusted:
        return False  # no relay configured to vouch for anyone
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            header_block(raw)
        )
        topmost = headers.get_all("Authentication-Results") or []
    except Exception:  # a stranger's headers: unreadable means unproven
        return False
    if not topmost:
        return False
    value = _COMMENT.sub("", " ".join(str(topmost[0]).split()))
    authserv_id, _, results = value.partition(";")
    if authserv_id.strip().split(" ")[0].lower() != trusted:
        return False
    from_domain = _domain(from_address)
    for match in _RESULT.finditer(results):
        if match.group("result").lower() != "pass":
            continue
        for prop in _PROPERTY.findall(match.group("properties")):
            if _aligned(_domain(prop), from_domain):
                return True
    return False
