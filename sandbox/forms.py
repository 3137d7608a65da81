from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms

from sandbox.calendars import ANSWERS
from sandbox.models import Contact, Provider


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


class ContactForm(forms.Form):
    display_name = forms.CharField(label="Name", max_length=300)
    emails = forms.CharField(label="Email addresses", max_length=2000, help_text="Comma-separated")
    job_title = forms.CharField(required=False, max_length=200)
    company = forms.CharField(required=False, max_length=200)
    kind = forms.ChoiceField(choices=Contact.Kind.choices, initial=Contact.Kind.CONTACT)

    def clean_emails(self) -> list[str]:
        addresses = [a.strip() for a in self.cleaned_data["emails"].split(",") if a.strip()]
        if not addresses:
            raise forms.ValidationError("Give at least one address.")
        for address in addresses:
            forms.EmailField().clean(address)
        return addresses


class CalendarWeekForm(forms.Form):
    """Which week of a calendar to show, and in which time zone (GET parameters)."""

    week = forms.DateField(required=False, help_text="Any day of the week, YYYY-MM-DD")
    tz = forms.CharField(required=False, max_length=64, label="Time zone", initial="UTC")

    def clean_tz(self) -> str:
        name = self.cleaned_data["tz"].strip() or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise forms.ValidationError(f"Unknown time zone: {name}") from error
        return name


class AttendeeForm(forms.Form):
    """Whose invitations to show: any address, a sandbox user's or not (a candidate's)."""

    email = forms.EmailField(label="Attendee's email address")


class InvitationAnswerForm(forms.Form):
    email = forms.EmailField()
    ical_uid = forms.CharField(max_length=255)
    answer = forms.ChoiceField(choices=list(ANSWERS.items()))
