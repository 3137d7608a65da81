from urllib.parse import urlencode

from django import forms

from candidates.models import Application, Posting
from candidates.selectors import ActivityFilter, ListOrder


class CandidateListForm(forms.Form):
    """The candidate list's search, email-activity filter and order (query parameters)."""

    q = forms.CharField(max_length=200, required=False, label="Search candidates")
    activity = forms.ChoiceField(
        choices=[("", "All candidates"), *ActivityFilter.choices],
        required=False,
        label="Email activity",
    )
    sort = forms.ChoiceField(choices=ListOrder.choices, required=False, label="Sort")

    def query_string(self) -> str:
        """The valid choices as a query string, for page links that keep them."""
        kept = {name: value for name, value in self.cleaned_data.items() if value}
        return urlencode(kept)


class CandidateDetailsForm(forms.Form):
    """What the profile says about the candidate besides their addresses."""

    full_name = forms.CharField(max_length=200, label="Name")
    headline = forms.CharField(max_length=200, required=False)
    location = forms.CharField(max_length=120, required=False)


class CandidateForm(CandidateDetailsForm):
    email = forms.CharField(max_length=254, required=False, label="Email address")
    more_emails = forms.CharField(
        max_length=2000,
        required=False,
        label="More email addresses",
        help_text="Separated by commas.",
    )
    posting = forms.ModelChoiceField(queryset=Posting.objects.none(), required=False)

    field_order = ["full_name", "email", "more_emails", "headline", "location", "posting"]

    def __init__(self, *args, postings=None, **kwargs):
        super().__init__(*args, **kwargs)
        if postings is not None:
            self.fields["posting"].queryset = postings

    def clean_more_emails(self) -> list[str]:
        # Each address is checked by the service, as every way of adding one is.
        raw = self.cleaned_data["more_emails"].replace(";", ",")
        return [address.strip() for address in raw.split(",") if address.strip()]


class CandidatePrefillForm(forms.Form):
    """Add candidate filled from a person the user picked (a contact of theirs): what the
    form starts with. Nothing is stored until the user adds the candidate."""

    full_name = forms.CharField(max_length=200, required=False)
    headline = forms.CharField(max_length=200, required=False)
    email = forms.CharField(max_length=254, required=False)
    more_emails = forms.CharField(max_length=2000, required=False)


class AddEmailForm(forms.Form):
    email = forms.CharField(max_length=254, label="Email address")


class StageForm(forms.Form):
    stage = forms.ChoiceField(choices=Application.Stage.choices)
