"""Company settings pages: they change the sync level through mailsync and show inbound
mail's tallies and address, so they sit on top of both."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import policy, services
from accounts.access import MemberRequest, member_required, require
from accounts.forms import (
    AutoIngestionForm,
    CompanySettingsForm,
    EmailSyncForm,
    IntegrationSwitchesForm,
    RetentionForm,
)
from accounts.models import Organisation
from accounts.routing import routing_rules_for
from accounts.selectors import company_settings_history
from inbound.selectors import inbound_summary
from mailsync import services as mailsync_services
from mailsync.ingestion_views import INGESTED, ingestion_rule_lines
from mailsync.retention import RUN_AT_UTC
from mailsync.selectors import retention_due_count


@member_required
def company_settings(request):
    require(policy.can_manage_company_settings(request.user), "Only Super Admins configure this.")
    organisation = request.user.organisation
    posted = request.POST.get("form", "general") if request.method == "POST" else None
    form = CompanySettingsForm(request.POST if posted == "general" else None, instance=organisation)
    sync_form = EmailSyncForm(
        request.POST if posted == "email_sync" else None, organisation=organisation
    )
    switches_form = IntegrationSwitchesForm(
        request.POST if posted == "integrations" else None,
        initial={
            "calendar_enabled": organisation.calendar_enabled,
            "contacts_enabled": organisation.contacts_enabled,
        },
    )
    if posted == "integrations" and switches_form.is_valid():
        services.organisation_set_integrations(
            actor=request.user,
            organisation=organisation,
            calendar=switches_form.cleaned_data["calendar_enabled"],
            contacts=switches_form.cleaned_data["contacts_enabled"],
        )
        messages.success(
            request,
            "Calendar and Contacts settings were saved. Nothing was revoked: a feature "
            "turned off stops for everyone now and resumes when turned on again.",
        )
        return redirect("inbound:company_settings")
    ingestion_form = AutoIngestionForm(
        request.POST if posted == "auto_ingestion" else None,
        initial={"auto_ingestion_enabled": organisation.auto_ingestion_enabled},
    )
    if posted == "auto_ingestion" and (
        saved := _save_auto_ingestion(request, organisation, ingestion_form)
    ):
        return saved
    saved_provider = organisation.email_provider
    if posted == "general" and form.is_valid():
        provider = form.cleaned_data["email_provider"]
        affected = mailsync_services.connections_to_deauthorize_for_provider(organisation, provider)
        if affected and not form.cleaned_data["confirm_provider_change"]:
            # The consequences first: the change goes through once confirmed.
            form.add_error(
                "confirm_provider_change",
                f"Changing the provider from {Organisation.EmailProvider(saved_provider).label} "
                f"to {Organisation.EmailProvider(provider).label} deauthorizes "
                f"{affected} user{'s' if affected != 1 else ''}: Threadline's access to "
                "their current accounts is withdrawn (revoked at Google; forgotten for "
                "Microsoft 365) and each is asked to authorize with the new provider. "
                "Mail synced so far stays. Tick to confirm.",
            )
        else:
            try:
                deauthorized = mailsync_services.organisation_change_settings(
                    actor=request.user,
                    organisation=organisation,
                    name=form.cleaned_data["name"],
                    email_provider=provider,
                    microsoft_authorization_mode=form.cleaned_data["microsoft_authorization_mode"],
                )
            except services.AccountsError as refusal:
                form.add_error(None, str(refusal))
            else:
                text = "Company settings were saved."
                if deauthorized:
                    text += (
                        f" {deauthorized} user{'s' if deauthorized != 1 else ''} must "
                        "authorize with the new provider."
                    )
                messages.success(request, text)
                return redirect("inbound:company_settings")
    if posted == "email_sync" and sync_form.is_valid():
        level = sync_form.cleaned_data["level"]
        affected = (
            mailsync_services.connections_to_deauthorize_for_level(organisation, level)
            if level != organisation.email_sync_level
            else 0
        )
        if affected and not sync_form.cleaned_data["confirm_level_change"]:
            # The consequences first: the change goes through once confirmed.
            sync_form.add_error(
                "confirm_level_change",
                f"Changing email access from {organisation.get_email_sync_level_display()} to "
                f"{Organisation.SyncLevel(level).label} deauthorizes {affected} "
                f"user{'s' if affected != 1 else ''}: their tokens are revoked at "
                f"{_revocation_where(organisation)} and each is told on their next page to "
                "re-authorize under the new level. Mail synced so far stays. Tick to confirm.",
            )
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
    retention_form = RetentionForm(
        request.POST if posted == "retention" else None,
        initial={"retention_months": organisation.retention_months},
    )
    if posted == "retention" and _retention_saved(request, retention_form):
        return redirect(f"{reverse('inbound:company_settings')}#retention")
    if posted:
        # A bound ModelForm wrote its (refused) values onto the instance; show what is saved.
        organisation.refresh_from_db()
    context = {
        "form": form,
        "sync_form": sync_form,
        "switches_form": switches_form,
        "ingestion_form": ingestion_form,
        "ingested_rule": INGESTED,
        "ingestion_rules": ingestion_rule_lines(),
        "organisation": organisation,
        "history": company_settings_history(user=request.user),
        "inbound": inbound_summary(user=request.user),
        "retention_form": retention_form,
        "retention_due": retention_due_count(organisation=organisation),
        "retention_run_at": RUN_AT_UTC,
    }
    return render(request, "accounts/company_settings.html", context)


def _save_auto_ingestion(
    request: MemberRequest, organisation: Organisation, form: AutoIngestionForm
) -> HttpResponse | None:
    """The Automatic ingestion section's POST: a redirect once saved, or None to show the
    form's errors on the page."""
    if not form.is_valid():
        return None
    enabled = form.cleaned_data["auto_ingestion_enabled"]
    try:
        started = mailsync_services.organisation_change_auto_ingestion(
            actor=request.user, organisation=organisation, enabled=enabled
        )
    except services.AccountsError as refusal:
        form.add_error(None, str(refusal))
        return None
    if enabled:
        text = (
            "Automatic ingestion is on: each user's one-on-one conversations with your "
            "candidates are brought in by the rules shown, Private to them."
        )
        if started:
            text += f" Started for {started} connected user{'s' if started != 1 else ''}."
    else:
        text = (
            "Automatic ingestion is off: no conversation is brought in automatically any "
            "more. Threads ingested so far stay in Threadline."
        )
    messages.success(request, text)
    return redirect(f"{reverse('inbound:company_settings')}#auto-ingestion")


def _retention_saved(request, form: RetentionForm) -> bool:
    if not form.is_valid():
        return False
    try:
        services.organisation_set_retention(
            actor=request.user,
            organisation=request.user.organisation,
            months=form.cleaned_data["retention_months"],
        )
    except services.AccountsError as refusal:
        form.add_error("retention_months", str(refusal))
        return False
    messages.success(request, "Retention was saved; the next daily run applies it.")
    return True


LEVEL_SAVED: dict[str, str] = {
    Organisation.SyncLevel.OFF: "Email is off: Threadline neither reads nor sends mail.",
    Organisation.SyncLevel.VIEW: (
        "Email access is View only: Threadline syncs and imports mail, and sends nothing."
    ),
    Organisation.SyncLevel.LIMITED: (
        "Email access is Send only: Threadline now asks only for permission to send."
    ),
    Organisation.SyncLevel.FULL: (
        "Email access is Send & view: Threadline sends and syncs replies from each mailbox."
    ),
}


def _sync_level_message(level: str, deauthorized: int) -> str:
    text = LEVEL_SAVED[level]
    if deauthorized:
        text += (
            f" {deauthorized} user{'s' if deauthorized != 1 else ''} "
            f"{'were' if deauthorized != 1 else 'was'} deauthorized and must re-authorize."
        )
    return text


def _revocation_where(organisation: Organisation) -> str:
    if organisation.email_provider == Organisation.EmailProvider.GOOGLE:
        return "Google"
    # Microsoft offers no revocation of one app's grant: Threadline forgets the tokens.
    return "the provider where it offers revocation (Microsoft 365: forgotten by Threadline)"


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
