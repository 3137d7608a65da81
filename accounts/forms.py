from django import forms

from accounts.models import Organisation


class MyAccountForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Name")
    email = forms.BooleanField(
        required=False,
        label="Email",
        help_text="Send from your own mailbox and sync replies to candidate profiles.",
    )
    calendar = forms.BooleanField(
        required=False, label="Calendar", help_text="Schedule interviews from your calendar."
    )
    contacts = forms.BooleanField(
        required=False, label="Contacts", help_text="Suggest candidates from your contacts."
    )

    def clean_full_name(self) -> str:
        name = self.cleaned_data["full_name"].strip()
        if not name:
            raise forms.ValidationError("Enter your name.")
        return name


class CompanySettingsForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["name", "email_provider"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter the organisation's name.")
        return name
