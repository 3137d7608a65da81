from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from accounts.admin_site import PolicyModelAdmin, PolicyTabularInline
from candidates.addresses import address_taken_reason, normalise_email_address
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


class CandidateAddressForm(forms.ModelForm):
    """An address typed in admin obeys the profile's rules: normalised, and one
    candidate's only, reported as a field error rather than a failed insert."""

    class Meta:
        model = CandidateEmail
        fields = ["address", "is_primary"]

    def clean_address(self) -> str:
        try:
            address = normalise_email_address(self.cleaned_data["address"])
        except ValidationError:
            raise ValidationError("Enter a valid email address.") from None
        # The inline formset has set the candidate: the profile being edited.
        candidate = self.instance.candidate
        taken = address_taken_reason(
            organisation_id=candidate.organisation_id,
            candidate_id=candidate.pk,
            address=address,
            exclude_pk=self.instance.pk,
        )
        if taken:
            raise ValidationError(taken)
        self.instance.organisation_id = candidate.organisation_id
        return address


class CandidateAddressFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        # Two rows of one post may not take the same address either (the database would
        # refuse the second insert).
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            address = getattr(form, "cleaned_data", {}).get("address")
            # Django's documented formset validation example calls this private method;
            # django-stubs leaves it out.
            if not address or self._should_delete_form(form):  # type: ignore[attr-defined]
                continue
            if address in seen:
                form.add_error("address", "This address is already on the profile.")
            seen.add(address)


class CandidateEmailInline(PolicyTabularInline):
    organisation_field = "organisation"
    model = CandidateEmail
    form = CandidateAddressForm
    formset = CandidateAddressFormSet
    extra = 0
    fields = ["address", "is_primary"]

    def has_add_permission(self, request, obj=None) -> bool:
        # New addresses need a saved candidate to be checked against (change pages only).
        return obj is not None and super().has_add_permission(request, obj)


class ApplicationInline(PolicyTabularInline):
    organisation_field = "candidate__organisation"
    model = Application
    extra = 0
    autocomplete_fields = ["posting"]


@admin.register(Candidate)
class CandidateAdmin(OrganisationFromActorMixin, PolicyModelAdmin):
    organisation_field = "organisation"
    list_display = ["full_name", "headline", "location", "organisation", "updated_at"]
    list_filter = ["organisation", "applications__posting", "applications__stage"]
    search_fields = ["full_name", "headline", "emails__address"]
    inlines = [CandidateEmailInline, ApplicationInline]
    readonly_fields = ["created_by", "created_at", "updated_at"]


@admin.register(CandidateEmail)
class CandidateEmailAdmin(PolicyModelAdmin):
    organisation_field = "organisation"
    list_display = ["address", "candidate", "is_primary", "organisation"]
    list_filter = ["is_primary", "organisation"]
    search_fields = ["address", "candidate__full_name"]
    list_select_related = ["candidate", "organisation"]
    readonly_fields = ["organisation", "candidate", "address"]

    def has_add_permission(self, request):
        return False


@admin.register(Posting)
class PostingAdmin(OrganisationFromActorMixin, PolicyModelAdmin):
    organisation_field = "organisation"
    list_display = ["title", "team", "location", "status", "organisation"]
    list_filter = ["status", "team", "organisation"]
    search_fields = ["title", "team", "location"]
    filter_horizontal = ["hiring_team"]


@admin.register(Application)
class ApplicationAdmin(PolicyModelAdmin):
    organisation_field = "candidate__organisation"
    list_display = ["candidate", "posting", "stage", "created_at"]
    list_filter = ["stage", "posting"]
    search_fields = ["candidate__full_name", "posting__title"]
    list_select_related = ["candidate", "posting"]
    autocomplete_fields = ["candidate", "posting"]
