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


ROUTING_CONFIRMATION_LABELS: dict[str, str] = {
    Organisation.EmailProvider.GOOGLE: "My Google admin has configured routing",
    Organisation.EmailProvider.MICROSOFT: (
        "My Office 365 admin has configured auto-forward in Exchange"
    ),
}


class EmailSyncForm(forms.Form):
    """Full or limited sync. Limited needs the mail admin's routing rule in place, and for
    Microsoft 365 the authorization mode, as both shape what users are asked to grant."""

    level = forms.ChoiceField(
        choices=Organisation.SyncLevel.choices, widget=forms.RadioSelect, label="Email sync"
    )
    routing_confirmed = forms.BooleanField(required=False)
    microsoft_authorization_mode = forms.ChoiceField(
        choices=Organisation.MicrosoftAuthorization.choices,
        label="Microsoft 365 authorization",
        required=False,
    )

    def __init__(self, *args, organisation: Organisation, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "level": organisation.email_sync_level,
                "routing_confirmed": organisation.routing_confirmed_at is not None,
                "microsoft_authorization_mode": organisation.microsoft_authorization_mode,
            },
        )
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        provider = organisation.email_provider
        self.fields["routing_confirmed"].label = ROUTING_CONFIRMATION_LABELS.get(provider, "")
        if provider != Organisation.EmailProvider.MICROSOFT:
            del self.fields["microsoft_authorization_mode"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("level") != Organisation.SyncLevel.LIMITED:
            return cleaned
        if not self.organisation.offers_limited_sync:
            self.add_error("level", "Limited sync is not available with on-premise Exchange.")
        elif not cleaned.get("routing_confirmed"):
            self.add_error(
                "routing_confirmed",
                "Tick this once your mail admin has set up the routing rule below; without "
                "it, replies never reach Threadline under limited sync.",
            )
        return cleaned

    @property
    def chosen_microsoft_authorization_mode(self) -> str:
        return self.cleaned_data.get("microsoft_authorization_mode") or (
            self.organisation.microsoft_authorization_mode
        )
