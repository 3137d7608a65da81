"""Customer mail routing, for limited sync: a domain's rule (Workspace 'Also deliver to' /
Exchange BlindCopyTo) copies mail to or from its mailboxes that cites Threadline's
Message-ID domain to the organisation's inbound address, which Mailgun forwards to
Threadline's webhook (see `sandbox.mailgun`). `sandbox.services` runs the rules over each
message it stores or sends; the rest of this module sets them up."""

import hashlib
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from sandbox import mailgun, mime
from sandbox.models import Mailbox, RoutingForward, RoutingRule


def _domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower()


def _cites_domain(parsed: mime.ParsedMessage, match_domain: str) -> bool:
    needle = f"@{match_domain.lower()}>"
    return any(
        needle in value.lower()
        for name, value in parsed.headers
        if name.lower() in ("references", "in-reply-to")
    )


def routing_apply(
    *, mailbox: Mailbox, raw: bytes, parsed: mime.ParsedMessage
) -> list[RoutingForward]:
    """Run the enabled rules of the mailbox's domain over a message that just passed
    through it (inside the transaction that stored it). A rule acts once per message:
    it claims the Message-ID, and the copy goes to Mailgun after the commit, never while
    a transaction is open (the webhook writes to this same database)."""
    if not (parsed.in_reply_to or parsed.references):
        return []
    key = parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    # What passes through the mail system: a Bcc header never leaves the sender's copy.
    copy = mime.strip_bcc(raw)
    claimed = []
    for rule in RoutingRule.objects.filter(domain=_domain_of(mailbox.address), enabled=True):
        if not rule.reaches_mailgun or not _cites_domain(parsed, rule.match_domain):
            continue
        forward, created = RoutingForward.objects.get_or_create(
            rule=rule,
            message_id=key[:500],
            defaults={"mailbox": mailbox, "subject": parsed.subject[:1000]},
        )
        if created:
            deliver = partial(
                mailgun.forward_deliver,
                forward_id=forward.pk,
                raw=copy,
                sender=parsed.from_addr,
                provider=mailbox.provider,
            )
            transaction.on_commit(deliver, robust=True)
            claimed.append(forward)
    return claimed


def routing_rule_set(
    *,
    domain: str,
    also_deliver_to: str,
    match_domain: str | None = None,
    enabled: bool = True,
) -> RoutingRule:
    """Create or update the rule of `domain` that copies matching mail to an address.
    `match_domain` defaults to settings.THREADLINE_MESSAGE_ID_DOMAIN (read at call time).
    Raises `sandbox.services.SandboxError` ("invalid") for a malformed domain or address."""
    # Imported here: services imports this module to run the rules on every message.
    from sandbox.services import SandboxError

    domain = domain.strip().lower()
    match_domain = (match_domain or settings.THREADLINE_MESSAGE_ID_DOMAIN).strip().lower()
    match_domain = match_domain.lstrip("@")
    also_deliver_to = also_deliver_to.strip().lower()
    for name, value in (("domain", domain), ("match domain", match_domain)):
        if not value or "@" in value or "." not in value or " " in value:
            raise SandboxError("invalid", f"Not a mail {name}: {value!r}")
    try:
        validate_email(also_deliver_to)
    except ValidationError as error:
        raise SandboxError("invalid", f"Not an email address: {also_deliver_to!r}") from error
    rule, _ = RoutingRule.objects.update_or_create(
        domain=domain,
        also_deliver_to=also_deliver_to,
        defaults={"match_domain": match_domain, "enabled": enabled},
    )
    return rule


def routing_rule_enable(*, rule: RoutingRule, enabled: bool) -> RoutingRule:
    rule.enabled = enabled
    rule.save(update_fields=["enabled"])
    return rule


def routing_rule_delete(*, rule: RoutingRule) -> None:
    """Remove a rule; the record of what it forwarded goes with it."""
    rule.delete()
