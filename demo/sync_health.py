"""Two Acme mailboxes that show the Sync health page's hard cases in `make run`: one the
provider keeps throttling, one whose access was revoked at the provider.

They are connected with tokens minted in the sandbox (a demo has nobody to click through
two consent screens), then the sandbox is told to misbehave. What the page shows comes from
real sync rounds against it: the throttled mailbox's first round gets Gmail's 429 with a
Retry-After of an hour, the revoked one's token refresh gets `invalid_grant`.
"""

from django.conf import settings

from accounts.models import User
from mailsync.models import MailboxConnection
from mailsync.providers import get_provider
from mailsync.providers.base import Authorization
from mailsync.services import authorization_store, sync_level_for
from sandbox import services as sandbox_services
from sandbox import tokens as sandbox_tokens
from sandbox.models import Mailbox

THROTTLED = "throttled@demo.test"
REVOKED = "revoked@demo.test"
# The sandbox throttles this mailbox for good: each 429 asks for an hour's wait.
THROTTLE_SECONDS = 3600
THROTTLED_CALLS = 1_000_000


def seed_troubled_mailboxes() -> int:
    """Connect the two mailboxes and make them misbehave; returns how many it connected
    (none on a second run)."""
    connected = 0
    for address in (THROTTLED, REVOKED):
        user = User.objects.select_related("organisation").get(email=address)
        if MailboxConnection.objects.filter(user=user).exists():
            continue
        box = Mailbox.objects.get(address=address)
        authorization_store(user=user, authorization=_minted(user, box))
        if address == THROTTLED:
            sandbox_services.fault_set(
                mailbox=box, count=THROTTLED_CALLS, status=429, retry_after=THROTTLE_SECONDS
            )
        else:
            sandbox_tokens.grants_revoke(mailbox=box)
        connected += 1
    return connected


def _minted(user: User, box: Mailbox) -> Authorization:
    """What Google's consent would have given: an offline grant of the organisation's
    level, its access and refresh tokens, and a cursor at the mailbox's present."""
    scopes = get_provider("google").scopes_for(sync_level_for(user))
    grant = sandbox_tokens.grant_create(
        mailbox=box, client_id=settings.GOOGLE_MAIL_CLIENT_ID, scopes=scopes, offline=True
    )
    access = sandbox_tokens.token_issue(grant=grant)
    return Authorization(
        account_address=box.address,
        credentials={
            "token": access.token,
            "refresh_token": grant.refresh_token,
            "expiry": access.expires_at.isoformat(),
            "scopes": scopes,
        },
        granted_scopes=scopes,
        cursor=str(box.history_id),
    )
