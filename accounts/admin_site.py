from functools import update_wrapper

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from accounts import policy


class ThreadlineAdminSite(admin.AdminSite):
    site_header = "Threadline administration"
    site_title = "Threadline admin"
    index_title = "Organisation data"

    def has_permission(self, request) -> bool:
        return policy.can_access_admin(request.user)

    def admin_view(self, view, cacheable=False):
        """Signed-in people whom the policy keeps out get 403, not another login form."""
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("account_login"))
            if not self.has_permission(request):
                raise PermissionDenied("Django admin is for Admins and Super Admins.")
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, view)

    def login(self, request, extra_context=None):
        # One sign-in page for the whole product (allauth's, with its rate limits).
        if request.user.is_authenticated and self.has_permission(request):
            return redirect("admin:index")
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect_to_login(next_url, reverse("account_login"))


class _PolicyPermissions:
    """The access policy decides rows and actions, for model admins and inlines alike."""

    def get_queryset(self, request):
        return policy.admin_queryset(request.user, super().get_queryset(request))

    def has_view_permission(self, request, obj=None) -> bool:
        return policy.admin_may(request.user, "view", self.model)

    def has_add_permission(self, request, *args) -> bool:
        return policy.admin_may(request.user, "add", self.model)

    def has_change_permission(self, request, obj=None) -> bool:
        return policy.admin_may(request.user, "change", self.model, self._own(obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        return policy.admin_may(request.user, "delete", self.model, self._own(obj))

    def _own(self, obj):
        # Inlines are asked about the parent object; only judge rows of our own model.
        return obj if isinstance(obj, self.model) else None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Choices for related rows obey the same organisation scoping as the lists.
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = policy.admin_queryset(request.user, field.queryset)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = policy.admin_queryset(request.user, field.queryset)
        return field


class PolicyModelAdmin(_PolicyPermissions, admin.ModelAdmin):
    def has_module_permission(self, request) -> bool:
        return policy.admin_may(request.user, "view", self.model)


class PolicyTabularInline(_PolicyPermissions, admin.TabularInline):
    pass
