from django.http import HttpRequest

from accounts.models import IntegrationPermission, User
from mailsync.models import MailboxConnection
from mailsync.policy import (
    RAISED_TO_READ,
    RAISED_TO_SEND,
    company_allows,
    company_off_reason,
    mailbox_status,
)
from mailsync.selectors import request_mailbox

RAISED = (RAISED_TO_READ, RAISED_TO_SEND)


def mailbox_health(request: HttpRequest) -> dict[str, bool | str]:
    """Tells the user on any page that their mailbox needs re-authorization (or may be
    re-authorized for more), and why reading it (adding a thread from it) is unavailable,
    if it is."""
    # No user (a request that skipped the auth middleware) or an anonymous one: no mailbox.
    user = getattr(request, "user", None)
    mailbox = request_mailbox(request) if isinstance(user, User) else None
    needs = mailbox is not None and mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    status = mailbox_status(mailbox)
    # With email off (or no provider chosen) re-authorizing is impossible: the banner says
    # why instead of offering it.
    blocked = ""
    email = IntegrationPermission.Kind.EMAIL
    if needs and isinstance(user, User) and not company_allows(user.organisation, email):
        blocked = company_off_reason(user, email)
    return {
        "mailbox_needs_reauthorization": needs,
        # What happened, when Threadline knows (a company change, a revoked grant).
        "mailbox_reauthorization_reason": mailbox.last_error if needs and mailbox else "",
        "mailbox_reauthorization_blocked": blocked,
        "mailbox_read_unavailable": status.why_not_read,
        # The company raised its email access level: the mailbox keeps working with what
        # it was granted, and its user is asked to re-authorize for the rest.
        "mailbox_upgrade_available": next(
            (why for why in (status.why_not_read, status.why_not_send) if why in RAISED),
            "",
        ),
    }
