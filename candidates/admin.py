from django.contrib import admin

from accounts.admin_site import PolicyModelAdmin, PolicyTabularInline
from candidates.models import Application, Candidate, CandidateEmail, Posting


class OrganisationFromActorMixin:
    """New rows belong to the acting admin's organisation; operators choose one."""

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if request.user.organisation_id is not None:
            excluded.append("organisation")
        return excluded

    def save_model(self, request, obj, form, change):
        if not change and request.user.organisation_id is not None:
            obj.organisation_id = request.user.organisation_id
        super().save_model(request, obj, form, change)


class CandidateEmailInline(PolicyTabularInline):
    model = CandidateEmail
    extra = 0
    fields = ["address", "is_primary"]

    def has_add_permission(self, request, obj=None):
        # Addresses must be normalised and claimed through the profile, not typed raw here.
        return False


class ApplicationInline(PolicyTabularInline):
    model = Application
    extra = 0
    autocomplete_fields = ["posting"]


@admin.register(Candidate)
class CandidateAdmin(OrganisationFromActorMixin, PolicyModelAdmin):
    list_display = ["full_name", "headline", "location", "organisation", "updated_at"]
    list_filter = ["organisation", "applications__posting", "applications__stage"]
    search_fields = ["full_name", "headline", "emails__address"]
    inlines = [CandidateEmailInline, ApplicationInline]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(CandidateEmail)
class CandidateEmailAdmin(PolicyModelAdmin):
    list_display = ["address", "candidate", "is_primary", "organisation"]
    list_filter = ["is_primary", "organisation"]
    search_fields = ["address", "candidate__full_name"]
    list_select_related = ["candidate", "organisation"]
    readonly_fields = ["organisation", "candidate", "address"]

    def has_add_permission(self, request):
        return False


@admin.register(Posting)
class PostingAdmin(OrganisationFromActorMixin, PolicyModelAdmin):
    list_display = ["title", "team", "location", "status", "organisation"]
    list_filter = ["status", "team", "organisation"]
    search_fields = ["title", "team", "location"]
    filter_horizontal = ["hiring_team"]


@admin.register(Application)
class ApplicationAdmin(PolicyModelAdmin):
    list_display = ["candidate", "posting", "stage", "created_at"]
    list_filter = ["stage", "posting"]
    search_fields = ["candidate__full_name", "posting__title"]
    list_select_related = ["candidate", "posting"]
    autocomplete_fields = ["candidate", "posting"]
