"""Company settings pages: they change the sync level through mailsync and show inbound
mail's tallies and address, so they sit on top of both."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import policy, services
from accounts.access import member_required, require
from accounts.forms import CompanySettingsForm, EmailSyncForm
from accounts.models import Organisation
from accounts.routing import routing_rules_for
from accounts.selectors import company_settings_history
from inbound.selectors import inbound_summary
from mailsync import services as mailsync_services


@member_required
def company_settings(request):
    require(policy.can_manage_company_settings(request.user), "Only Super Admins configure this.")
    organisation = request.user.organisation
    posted = request.POST.get("form", "general") if request.method == "POST" else None
    form = CompanySettingsForm(request.POST if posted == "general" else None, instance=organisation)
    sync_form = EmailSyncForm(
        request.POST if posted == "email_sync" else None, organisation=organisation
    )
    if posted == "general" and form.is_valid():
        try:
            services.organisation_update_settings(
                actor=request.user,
                organisation=organisation,
                name=form.cleaned_data["name"],
                email_provider=form.cleaned_data["email_provider"],
                microsoft_authorization_mode=form.cleaned_data["microsoft_authorization_mode"],
            )
        except services.AccountsError as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, "Company settings were saved.")
            return redirect("inbound:company_settings")
    if posted == "email_sync" and sync_form.is_valid():
        level = sync_form.cleaned_data["level"]
        try:
            asked = mailsync_services.organisation_change_sync_level(
                actor=request.user,
                organisation=organisation,
                level=level,
                routing_confirmed=sync_form.cleaned_data["routing_confirmed"],
                microsoft_authorization_mode=sync_form.chosen_microsoft_authorization_mode,
            )
        except services.AccountsError as refusal:
            sync_form.add_error(None, str(refusal))
        else:
            messages.success(request, _sync_level_message(level, asked))
            return redirect("inbound:company_settings")
    if posted:
        # A bound ModelForm wrote its (refused) values onto the instance; show what is saved.
        organisation.refresh_from_db()
    context = {
        "form": form,
        "sync_form": sync_form,
        "organisation": organisation,
        "history": company_settings_history(user=request.user),
        "inbound": inbound_summary(user=request.user),
    }
    return render(request, "accounts/company_settings.html", context)


def _sync_level_message(level: str, asked: int) -> str:
    if level == Organisation.SyncLevel.LIMITED:
        text = "Limited sync is on: Threadline now asks only for permission to send."
    else:
        text = "Full sync is on: Threadline syncs replies from each connected mailbox."
    if asked:
        text += f" {asked} user{'s' if asked != 1 else ''} must re-authorize their mailbox."
    return text


@member_required
def routing_instructions(request):
    """What the customer's mail admin sets up so that limited sync still gets replies."""
    require(policy.can_manage_company_settings(request.user), "Only Super Admins configure this.")
    organisation = request.user.organisation
    rules = routing_rules_for(organisation)
    context = {"organisation": organisation, "rules": rules, "sandbox_routing_url": ""}
    if settings.SANDBOX:
        # The demo's stand-in for the mail admin: the sandbox applies the same rule.
        query = urlencode(
            {
                "domain": request.user.email.rpartition("@")[2],
                "deliver_to": rules.inbound_address,
                "match_domain": rules.message_id_domain,
            }
        )
        context["sandbox_routing_url"] = f"{reverse('sandbox:routing')}?{query}"
    return render(request, "accounts/routing_instructions.html", context)
