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
