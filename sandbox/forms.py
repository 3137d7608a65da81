from django import forms

from sandbox.models import Provider


class MailboxForm(forms.Form):
    address = forms.EmailField()
    display_name = forms.CharField(required=False, max_length=200)
    provider = forms.ChoiceField(choices=Provider.choices, initial=Provider.GOOGLE)
    gcc_high = forms.BooleanField(required=False, label="GCC High tenant (Microsoft only)")


class ComposeForm(forms.Form):
    to = forms.CharField(help_text="Comma-separated addresses")
    cc = forms.CharField(required=False)
    subject = forms.CharField(max_length=1000)
    body = forms.CharField(widget=forms.Textarea)


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea)


class RoutingRuleForm(forms.Form):
    """A customer's routing rule. Field names are the GET parameters Threadline's
    routing-instructions page links with (`?domain=…&deliver_to=…&match_domain=…`)."""

    domain = forms.CharField(
        max_length=253, help_text="The customer's Google Workspace or Microsoft 365 mail domain"
    )
    deliver_to = forms.EmailField(
        label="Also deliver to", help_text="The organisation's Threadline inbound address"
    )
    match_domain = forms.CharField(
        max_length=253,
        label="References or In-Reply-To contains @…>",
        help_text="Threadline's Message-ID domain",
    )
