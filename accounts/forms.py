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


class CompanySettingsForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["name", "email_provider", "microsoft_authorization_mode"]
        labels = {"microsoft_authorization_mode": "Microsoft 365 authorization"}
