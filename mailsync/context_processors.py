from django.http import HttpRequest

from accounts.models import User
from mailsync.models import MailboxConnection
from mailsync.selectors import mailbox_for


def mailbox_health(request: HttpRequest) -> dict[str, bool]:
    """Tells the user on any page that their mailbox needs re-authorization."""
    # No user (a request that skipped the auth middleware) or an anonymous one: no mailbox.
    user = getattr(request, "user", None)
    mailbox = mailbox_for(user=user) if isinstance(user, User) else None
    needs = mailbox is not None and mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    return {"mailbox_needs_reauthorization": needs}
