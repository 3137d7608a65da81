"""Settings > Sync health (Admins and Super Admins): every mailbox of the organisation
with its real state, and the two actions an operator of mail sync needs, Sync now and
Reset cursor (both audited on Settings > Company's history)."""

from functools import partial

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import policy as accounts_policy
from accounts.access import MemberRequest, member_required, require
from mailsync import services
from mailsync.health import HealthState, organisation_health, state_counts
from mailsync.models import MailboxConnection
from mailsync.tasks import sync_mailbox

ROWS_PER_PAGE = 50


def _choice(value: str, allowed: type[HealthState] | type[MailboxConnection.Provider]) -> str:
    return value if value in {member.value for member in allowed} else ""


@member_required
def sync_health(request: MemberRequest) -> HttpResponse:
    require(accounts_policy.can_see_sync_health(request.user))
    state = _choice(request.GET.get("state", ""), HealthState)
    provider = _choice(request.GET.get("provider", ""), MailboxConnection.Provider)
    search = request.GET.get("q", "").strip()[:100]
    rows = organisation_health(request.user, provider=provider, search=search)
    shown = [row for row in rows if row.state == state] if state else rows
    page = Paginator(shown, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "mailsync/sync_health.html",
        {
            "page": page,
            "state": state,
            "provider": provider,
            "search": search,
            "query": request.GET.urlencode(),
            "counts": [(value, value.label, count) for value, count in state_counts(rows).items()],
            "flagged": sum(row.flagged for row in rows),
            "providers": MailboxConnection.Provider.choices,
        },
    )


@require_POST
@member_required
def sync_health_action(request: MemberRequest, mailbox_id: int, action: str) -> HttpResponse:
    require(accounts_policy.can_see_sync_health(request.user))
    actions = {"sync": services.mailbox_sync_request, "reset": services.mailbox_cursor_reset}
    if action not in actions:
        raise PermissionDenied("Unknown action.")
    try:
        mailbox = actions[action](actor=request.user, mailbox_id=mailbox_id)
    except services.HealthActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        transaction.on_commit(partial(sync_mailbox.delay, mailbox.pk))
        done = "Sync queued" if action == "sync" else "Cursor reset; a recovery round is queued"
        messages.success(request, f"{done} for {mailbox.account_address}.")
    # Back to the same filters (a query string only: never a URL from the form).
    query = QueryDict(request.POST.get("query", "")).urlencode()
    return redirect(f"{reverse('mailsync:sync_health')}{'?' + query if query else ''}")
