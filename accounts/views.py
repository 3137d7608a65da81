from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import policy, services
from accounts.access import member_required, require
from accounts.forms import CompanySettingsForm, MyAccountForm
from accounts.models import IntegrationPermission
from accounts.selectors import integration_permissions_for
from mailsync import connections
from mailsync.selectors import mailbox_for


@member_required
def my_account(request):
    permissions = integration_permissions_for(user=request.user)
    initial = {"full_name": request.user.full_name}
    initial.update({kind: p.enabled for kind, p in permissions.items()})
    form = MyAccountForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.user_update_profile(user=request.user, full_name=form.cleaned_data["full_name"])
        changed = services.integration_permissions_update(
            user=request.user,
            email=form.cleaned_data["email"],
            calendar=form.cleaned_data["calendar"],
            contacts=form.cleaned_data["contacts"],
        )
        email = next((p for p in changed if p.kind == IntegrationPermission.Kind.EMAIL), None)
        if email is not None and email.enabled:
            # Ticking Email hands over to the provider's consent screen.
            callback = request.build_absolute_uri(reverse("mailsync:callback"))
            return redirect(
                connections.authorization_start(user=request.user, redirect_uri=callback)
            )
        if email is not None:
            connections.disconnect(user=request.user)
        messages.success(request, "Your account settings were saved.")
        return redirect("accounts:my_account")
    context = {
        "form": form,
        "permissions": permissions.values(),
        "mailbox": mailbox_for(user=request.user),
    }
    return render(request, "accounts/my_account.html", context)


@member_required
def company_settings(request):
    require(policy.can_manage_company_settings(request.user), "Only Super Admins configure this.")
    organisation = request.user.organisation
    form = CompanySettingsForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        services.organisation_update_settings(
            actor=request.user,
            organisation=organisation,
            name=form.cleaned_data["name"],
            email_provider=form.cleaned_data["email_provider"],
            microsoft_authorization_mode=form.cleaned_data["microsoft_authorization_mode"],
        )
        messages.success(request, "Company settings were saved.")
        return redirect("accounts:company_settings")
    return render(
        request, "accounts/company_settings.html", {"form": form, "organisation": organisation}
    )
