from mailsync.models import MailboxConnection
from mailsync.selectors import mailbox_for


def mailbox_health(request) -> dict:
    """Tells the user on any page that their mailbox needs re-authorization."""
    mailbox = mailbox_for(user=getattr(request, "user", None))
    needs = mailbox is not None and mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    return {"mailbox_needs_reauthorization": needs}
