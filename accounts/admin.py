from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from accounts import policy
from accounts.admin_site import PolicyModelAdmin
from accounts.models import EMAIL_SETTINGS_FIELDS, IntegrationPermission, Organisation, User


@admin.register(Organisation)
class OrganisationAdmin(PolicyModelAdmin):
    organisation_field = "pk"
    list_display = ["name", "slug", "email_provider", "email_sync_level", "created_at"]
    list_filter = ["email_provider", "email_sync_level"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    # Provider, Microsoft consent and sync level change only on Settings > Company, which
    # checks what the provider offers, revokes read grants, resets consent and audits the
    # change; an edit here would skip all of it, for operators as much as for members.
    readonly_fields = [*EMAIL_SETTINGS_FIELDS, "inbound_key"]


class _RoleLimitedForm(forms.ModelForm):
    """Offers only the roles the acting admin may give (Admins never create Super Admins)."""

    acting_user: User | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "role" in self.fields and self.acting_user is not None:
            allowed = {role.value for role in policy.assignable_roles(self.acting_user)}
            self.fields["role"].choices = [
                (value, label) for value, label in self.fields["role"].choices if value in allowed
            ]

    def clean_role(self):
        role = self.cleaned_data["role"]
        allowed = {r.value for r in policy.assignable_roles(self.acting_user)}
        if role not in allowed:
            raise ValidationError("You may not give this role.")
        return role


class UserCreateForm(_RoleLimitedForm, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "role")


class UserEditForm(_RoleLimitedForm, UserChangeForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "role", "is_active")


@admin.register(User)
class UserAdmin(PolicyModelAdmin, DjangoUserAdmin):
    organisation_field = "organisation"
    form = UserEditForm
    add_form = UserCreateForm
    ordering = ["email"]
    list_display = ["email", "full_name", "organisation", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active", "organisation"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ()
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "organisation", "role", "is_active"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["email", "full_name", "role", "password1", "password2"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not policy.is_operator(request.user):
            readonly.append("organisation")
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        return type(form_class.__name__, (form_class,), {"acting_user": request.user})

    def save_model(self, request, obj, form, change):
        if not change and obj.organisation_id is None:
            obj.organisation_id = request.user.organisation_id
        super().save_model(request, obj, form, change)


@admin.register(IntegrationPermission)
class IntegrationPermissionAdmin(PolicyModelAdmin):
    organisation_field = "user__organisation"
    list_display = ["user", "kind", "enabled", "state", "changed_at"]
    list_filter = ["kind", "state", "enabled"]
    search_fields = ["user__email", "user__full_name"]
    list_select_related = ["user"]
