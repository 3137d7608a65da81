from django.contrib import messages
from django.shortcuts import redirect, render

from accounts import policy, services
from accounts.access import member_required, require
from accounts.forms import CompanySettingsForm, MyAccountForm
from accounts.selectors import integration_permissions_for


@member_required
def my_account(request):
    permissions = integration_permissions_for(user=request.user)
    initial = {"full_name": request.user.full_name}
    initial.update({kind: p.enabled for kind, p in permissions.items()})
    form = MyAccountForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.user_update_profile(user=request.user, full_name=form.cleaned_data["full_name"])
        services.integration_permissions_update(
            user=request.user,
            email=form.cleaned_data["email"],
            calendar=form.cleaned_data["calendar"],
            contacts=form.cleaned_data["contacts"],
        )
        messages.success(request, "Your account settings were saved.")
        return redirect("accounts:my_account")
    return render(
        request, "accounts/my_account.html", {"form": form, "permissions": permissions.values()}
    )


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
        )
        messages.success(request, "Company settings were saved.")
        return redirect("accounts:company_settings")
    return render(request, "accounts/company_settings.html", {"form": form})
