"""The routing rules a customer's mail admin sets up for limited sync, generated from the
organisation's settings so that they can be copied as they are.

Both rules match the Message-ID domain of the mail Threadline sends inside `References`
or `In-Reply-To`, which is how a reply names the message it answers. They therefore copy
candidate replies and the users' own replies written in their mailbox, and nothing that
does not answer a Threadline message.
"""

import re
from dataclasses import dataclass

from django.conf import settings

from accounts.models import Organisation


@dataclass(frozen=True)
class RoutingRules:
    inbound_address: str
    message_id_domain: str
    # Google Workspace content compliance: RE2, matched against the full header block.
    google_regex: str
    # Exchange Online mail flow rules accept only a small regex subset (no classes or
    # counts), so their pattern is the escaped domain with the closing bracket.
    exchange_pattern: str
    exchange_rule_names: tuple[str, str]

    @property
    def powershell(self) -> list[str]:
        return [
            f'New-TransportRule -Name "{name}" -HeaderMatchesMessageHeader "{header}" '
            f'-HeaderMatchesPatterns "{self.exchange_pattern}" '
            f'-BlindCopyTo "{self.inbound_address}" -Priority 0 '
            '-Comments "Copies replies to Threadline messages to Threadline (limited sync)."'
            for name, header in zip(
                self.exchange_rule_names, ("References", "In-Reply-To"), strict=True
            )
        ]


def routing_rules_for(organisation: Organisation) -> RoutingRules:
    domain = settings.THREADLINE_MESSAGE_ID_DOMAIN
    escaped = re.escape(domain)
    return RoutingRules(
        inbound_address=organisation.inbound_address,
        message_id_domain=domain,
        # A header may be folded over several lines; continuation lines start with space.
        google_regex=(
            r"(?im)^(references|in-reply-to):([^\r\n]*\r?\n[ \t])*[^\r\n]*@" + escaped + ">"
        ),
        exchange_pattern=f"@{escaped}>",
        exchange_rule_names=(
            "Threadline replies (References)",
            "Threadline replies (In-Reply-To)",
        ),
    )
