from django import forms

from candidates.models import EmailThread, Posting


class CandidateForm(forms.Form):
    full_name = forms.CharField(max_length=200, label="Name")
    email = forms.CharField(max_length=254, required=False, label="Email address")
    headline = forms.CharField(max_length=200, required=False)
    location = forms.CharField(max_length=120, required=False)
    posting = forms.ModelChoiceField(queryset=Posting.objects.none(), required=False)

    def __init__(self, *args, postings=None, **kwargs):
        super().__init__(*args, **kwargs)
        if postings is not None:
            self.fields["posting"].queryset = postings


class AddEmailForm(forms.Form):
    email = forms.CharField(max_length=254, label="Email address")


class ThreadVisibilityForm(forms.Form):
    visibility = forms.ChoiceField(choices=EmailThread.Visibility.choices)
