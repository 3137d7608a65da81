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

    def __init__(self, *args, company_off: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A box the company has off is shown as the user left it, disabled, with the
        # reason; a disabled field keeps its initial value whatever is posted.
        for kind, reason in company_off.items():
            self.fields[kind].disabled = True
            self.fields[kind].help_text = reason


class CompanySettingsForm(forms.ModelForm):
    # Ticked on the confirmation a provider change shows (see the company settings view).
    confirm_provider_change = forms.BooleanField(
        required=False, label="Yes, change the provider and deauthorize these users"
    )

    class Meta:
        model = Organisation
        fields = ["name", "email_provider", "microsoft_authorization_mode"]
        labels = {"microsoft_authorization_mode": "Microsoft 365 authorization"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        provider = self.fields["email_provider"]
        assert isinstance(provider, forms.ChoiceField)
        # Until a provider is chosen nobody can authorize; once chosen, it can be changed
        # but not unchosen (that would strand every connection without a new provider).
        provider.required = bool(self.instance.email_provider)
        provider.choices = [("", "Not chosen yet"), *Organisation.EmailProvider.choices]


class IntegrationSwitchesForm(forms.Form):
    calendar_enabled = forms.BooleanField(
        required=False,
        label="Calendar",
        help_text="Users may connect their calendar to schedule interviews (Google Meet or Teams).",
    )
    contacts_enabled = forms.BooleanField(
        required=False,
        label="Contacts",
        help_text="Users may get suggestions from their own contacts as they type a person.",
    )


class AutoIngestionForm(forms.Form):
    auto_ingestion_enabled = forms.BooleanField(
        required=False,
        label="Automatic ingestion",
        help_text="When a user authorizes their mailbox, Threadline brings in their "
        "one-on-one conversations with your candidates by the rules below.",
    )


ROUTING_CONFIRMATION_LABELS: dict[str, str] = {
    Organisation.EmailProvider.GOOGLE: "My Google admin has configured routing",
    Organisation.EmailProvider.MICROSOFT: (
        "My Office 365 admin has configured auto-forward in Exchange"
    ),
}


class EmailSyncForm(forms.Form):
    """The email access level. Send only needs the mail admin's routing rule in place, and
    for Microsoft 365 the authorization mode, as both shape what users are asked to grant.
    A lowering change is saved once confirmed (the view states how many users it
    deauthorizes)."""

    level = forms.ChoiceField(
        choices=Organisation.SyncLevel.choices, widget=forms.RadioSelect, label="Email access"
    )
    routing_confirmed = forms.BooleanField(required=False)
    confirm_level_change = forms.BooleanField(
        required=False, label="Yes, change the level and deauthorize these users"
    )
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
            self.add_error("level", "Send only is not available with on-premise Exchange.")
        elif not cleaned.get("routing_confirmed"):
            self.add_error(
                "routing_confirmed",
                "Tick this once your mail admin has set up the routing rule below; without "
                "it, replies never reach Threadline under Send only.",
            )
        return cleaned

    @property
    def chosen_microsoft_authorization_mode(self) -> str:
        return self.cleaned_data.get("microsoft_authorization_mode") or (
            self.organisation.microsoft_authorization_mode
        )


class RetentionForm(forms.Form):
    """Settings > Company, Retention: how long a thread may go without a message."""

    retention_months = forms.IntegerField(
        min_value=1,
        max_value=120,
        label="Remove threads with no message for (months)",
        help_text="From 1 to 120 months.",
    )
