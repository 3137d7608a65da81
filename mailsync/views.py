import secrets

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import MemberRequest, member_required
from accounts.forms import MyAccountForm
from accounts.models import IntegrationPermission
from accounts.selectors import integration_permissions_for
from accounts.services import AccountsError
from mailsync import services as mailsync_services
from mailsync.health import own_mailbox_health
from mailsync.ingestion_views import my_account_ingestion
from mailsync.policy import company_allows, company_off_reason, feature_status, mailbox_status
from mailsync.selectors import mailbox_for
from mailsync.tasks import sync_mailbox
from mailsync.tokens import connection_kinds


def _callback_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("mailsync:callback"))


@require_POST
@member_required
def connect(request: MemberRequest) -> HttpResponse:
    """Start (or restart, for re-authorization) the provider's consent flow."""
    try:
        return redirect(
            mailsync_services.authorization_start(
                user=request.user, redirect_uri=_callback_uri(request)
            )
        )
    except mailsync_services.AuthorizationFailed as failure:
        messages.error(request, str(failure))
        return redirect("mailsync:my_account")


@member_required
def callback(request: MemberRequest) -> HttpResponse:
    try:
        done = mailsync_services.authorization_complete(
            user=request.user,
            callback_params=request.GET.dict(),
            redirect_uri=_callback_uri(request),
        )
    except mailsync_services.AuthorizationFailed as failure:
        messages.error(request, str(failure))
    else:
        mailbox = done.mailbox
        others = " and ".join(
            IntegrationPermission.Kind(k).label for k in connection_kinds(mailbox) if k != "email"
        )
        if mailbox.uses_email:
            connected = f"Your mailbox {mailbox.account_address} is connected."
            messages.success(request, f"{connected} {others} on." if others else connected)
        else:
            messages.success(request, f"{others} connected through {mailbox.account_address}.")
        for kind in done.not_granted:
            label = IntegrationPermission.Kind(kind).label
            messages.warning(
                request,
                f"You did not allow {label} on the consent screen, so {label} stays off; "
                f"tick it again to retry.",
            )
    return redirect("mailsync:my_account")


@require_POST
@member_required
def disconnect(request: MemberRequest) -> HttpResponse:
    mailsync_services.disconnect(user=request.user)
    messages.success(
        request,
        "Your mailbox is disconnected: Threadline no longer uses your email, calendar or "
        "contacts and revoked its access. Synced mail and interviews stay in Threadline.",
    )
    return redirect("mailsync:my_account")


@require_POST
@member_required
def sync_now(request: MemberRequest) -> HttpResponse:
    """Queue a sync of the user's own mailbox ahead of beat's next round."""
    mailbox = mailbox_for(user=request.user)
    status = mailbox_status(mailbox)
    if not status.may_read:
        messages.error(request, status.why_not_read)
    else:
        assert mailbox is not None  # may_read: mailbox_status found a connected mailbox
        transaction.on_commit(lambda: sync_mailbox.delay(mailbox.pk))
        messages.success(request, "Sync started: new replies appear on profiles in a moment.")
    return redirect("mailsync:my_account")


@require_POST
@member_required
def admin_consent(request: MemberRequest) -> HttpResponse:
    state = secrets.token_urlsafe(24)
    request.session["admin_consent_state"] = state
    callback = request.build_absolute_uri(reverse("mailsync:admin_consent_callback"))
    try:
        url = mailsync_services.admin_consent_start(
            actor=request.user, redirect_uri=callback, state=state
        )
    except mailsync_services.AuthorizationFailed as failure:
        raise PermissionDenied(str(failure)) from failure
    return redirect(url)


@member_required
def admin_consent_callback(request: MemberRequest) -> HttpResponse:
    expected = request.session.pop("admin_consent_state", None)
    if not expected or request.GET.get("state") != expected:
        messages.error(request, "That consent link has expired. Please start again.")
        return redirect("inbound:company_settings")
    try:
        mailsync_services.admin_consent_complete(
            actor=request.user, callback_params=request.GET.dict()
        )
    except (mailsync_services.AuthorizationFailed, AccountsError) as failure:
        messages.error(request, str(failure))
    else:
        messages.success(request, "Admin consent granted: your users can now connect Outlook.")
    return redirect("inbound:company_settings")


@member_required
def my_account(request: MemberRequest) -> HttpResponse:
    """My account: ticking Email starts the mailbox authorization, unticking ends it."""
    permissions = integration_permissions_for(user=request.user)
    initial: dict[str, str | bool] = {"full_name": request.user.full_name}
    initial.update({kind: p.enabled for kind, p in permissions.items()})
    company_off = {
        kind: company_off_reason(request.user, kind)
        for kind in IntegrationPermission.Kind.values
        if not company_allows(request.user.organisation, kind)
    }
    form = MyAccountForm(request.POST or None, initial=initial, company_off=company_off)
    if request.method == "POST" and form.is_valid():
        saved = mailsync_services.my_account_save(
            user=request.user,
            full_name=form.cleaned_data["full_name"],
            email=form.cleaned_data["email"],
            calendar=form.cleaned_data["calendar"],
            contacts=form.cleaned_data["contacts"],
            redirect_uri=_callback_uri(request),
        )
        for notice in saved.notices:
            messages.info(request, notice)
        if saved.consent_url:
            # A newly ticked box hands over to the provider's consent screen.
            return redirect(saved.consent_url)
        if saved.refusal:
            messages.error(request, saved.refusal)
        else:
            messages.success(request, "Your account settings were saved.")
        return redirect("mailsync:my_account")
    mailbox = mailbox_for(user=request.user)
    # Why a connected Calendar or Contacts box does not work now (e.g. the company's
    # switch), from the one mailbox policy.
    blocked = {
        kind: status.why_not
        for kind in ("calendar", "contacts")
        if permissions[kind].state == IntegrationPermission.State.CONNECTED
        and not (status := feature_status(request.user, kind, mailbox)).allowed
    }
    context = {
        "form": form,
        # The company's Off shows under the disabled box; other reasons beside the state.
        "permissions": [
            (p, "" if p.kind in company_off else blocked.get(p.kind, ""))
            for p in permissions.values()
        ],
        "used_for": ", ".join(
            IntegrationPermission.Kind(k).label for k in connection_kinds(mailbox)
        )
        if mailbox
        else "",
        "mailbox": mailbox,
        "sync_health": own_mailbox_health(mailbox),
        **my_account_ingestion(request.user, mailbox),
    }
    return render(request, "accounts/my_account.html", context)
