from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.utils import NestedObjects, get_fields_from_path, quote
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import router
from django.db.models import Model, Q, QuerySet
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

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


def scoped_rows(admin_site: admin.AdminSite, request, queryset: QuerySet) -> QuerySet:
    """`queryset` cut to what the viewer may see, by the rule of its model's admin: for
    choices, filters and other rows that a page shows of a model it is not about.
    Models without a policy admin are for operators only."""
    organisation_field = None
    if admin_site.is_registered(queryset.model):
        model_admin = admin_site.get_model_admin(queryset.model)
        organisation_field = getattr(model_admin, "organisation_field", None)
    return policy.admin_queryset(request.user, queryset, organisation_field=organisation_field)


class PolicyRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """Offers only related rows the viewer may see in admin: Django's own filter lists
    every organisation's rows (names, posting titles) in the sidebar."""

    def field_choices(self, field, request, model_admin):
        rows = field.related_model._default_manager.all()
        allowed = scoped_rows(model_admin.admin_site, request, rows)
        return field.get_choices(
            include_blank=False,
            ordering=self.field_admin_ordering(field, request, model_admin),
            limit_choices_to=Q(pk__in=allowed.values("pk")),
        )


def _shown_only(nested: list) -> list:
    """Drop the hidden (None) entries of a NestedObjects tree. A hidden row's shown
    descendants move up a level, so the list keeps its [row, [children]] shape."""
    kept: list = []
    previous_shown = False
    for item in nested:
        if isinstance(item, list):
            children = _shown_only(item)
            if previous_shown and children:
                kept.append(children)
            else:
                kept.extend(children)
        else:
            previous_shown = item is not None
            if previous_shown:
                kept.append(item)
    return kept


class _PolicyPermissions:
    """The access policy decides rows and actions, for model admins and inlines alike."""

    # The lookup path from this admin's model to its organisation's id; see
    # policy.admin_queryset. None keeps the model for operators only.
    organisation_field: str | None = None
    # Set by the admin class this is mixed into (ModelAdmin or InlineModelAdmin).
    model: type[Model]

    def get_queryset(self, request):
        return policy.admin_queryset(
            request.user, super().get_queryset(request), organisation_field=self.organisation_field
        )

    def has_view_permission(self, request, obj=None) -> bool:
        return policy.admin_may(request.user, "view", self.model)

    def has_add_permission(self, request, *args) -> bool:
        return policy.admin_may(request.user, "add", self.model)

    def has_change_permission(self, request, obj=None) -> bool:
        return policy.admin_may(
            request.user,
            "change",
            self.model,
            self._own(obj),
            organisation_field=self.organisation_field,
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return policy.admin_may(
            request.user,
            "delete",
            self.model,
            self._own(obj),
            organisation_field=self.organisation_field,
        )

    def _own(self, obj):
        # Inlines are asked about the parent object; only judge rows of our own model.
        return obj if isinstance(obj, self.model) else None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Choices for related rows obey the same organisation scoping as the lists.
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = scoped_rows(self.admin_site, request, field.queryset)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = scoped_rows(self.admin_site, request, field.queryset)
        return field


class PolicyModelAdmin(_PolicyPermissions, admin.ModelAdmin):
    def has_module_permission(self, request) -> bool:
        return policy.admin_may(request.user, "view", self.model)

    def get_list_filter(self, request):
        # Every relation filter is scoped, so a plain field name can never leak names.
        return [
            (item, PolicyRelatedFieldListFilter)
            if isinstance(item, str) and get_fields_from_path(self.model, item)[-1].is_relation
            else item
            for item in super().get_list_filter(request)
        ]

    def get_deleted_objects(self, objs, request):
        """What a delete would take with it, naming only rows the viewer may open in admin.

        Threads, messages, attachments and mailbox copies have no admin page; Django would
        still name each of them (ids, dates, sizes), whoever owns the thread. They are
        counted in the summary instead.
        """
        objs = list(objs)
        if not objs:
            return [], {}, set(), []
        collector = NestedObjects(using=router.db_for_write(self.model), origin=objs)
        collector.collect(objs)
        perms_needed: set[str] = set()

        def describe(obj: Model):
            if not self.admin_site.is_registered(type(obj)):
                return None
            model_admin = self.admin_site.get_model_admin(type(obj))
            if not model_admin.has_delete_permission(request, obj):
                perms_needed.add(str(obj._meta.verbose_name))
            if not model_admin.has_view_permission(request, obj):
                return None
            return self._deleted_object_link(obj)

        to_delete = _shown_only(collector.nested(describe))
        # A protected row still blocks the delete, so it is listed, unnamed if hidden.
        protected = [
            describe(obj) or capfirst(obj._meta.verbose_name) for obj in collector.protected
        ]
        model_count = {
            model._meta.verbose_name_plural: len(rows)
            for model, rows in collector.model_objs.items()
        }
        return to_delete, model_count, perms_needed, protected

    def _deleted_object_link(self, obj: Model) -> str:
        opts = obj._meta
        try:
            url = reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                args=[quote(obj.pk)],
            )
        except NoReverseMatch:
            return f"{capfirst(opts.verbose_name)}: {obj}"
        return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)


class PolicyTabularInline(_PolicyPermissions, admin.TabularInline):
    pass
