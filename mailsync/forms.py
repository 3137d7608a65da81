"""The Emails tab's forms: compose and reply, sent from the user's own mailbox."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from candidates.addresses import normalise_email_address
from candidates.models import EmailThread
from mailsync.mime import OutgoingAttachment
from mailsync.sending import MAX_ATTACHMENTS_BYTES, Draft


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleans to a list (empty when none were chosen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[bytes]]:
        files = data if isinstance(data, list | tuple) else [data]
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files if f]
        if self.required and not cleaned:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return cleaned


class ComposeForm(forms.Form):
    """A new email to the candidate, sent from the user's own mailbox (so no From field)."""

    to = forms.ChoiceField(label="To", required=False)
    new_to = forms.CharField(
        label="Or another address",
        max_length=254,
        required=False,
        help_text="It is added to the candidate's addresses when the email is sent.",
    )
    subject = forms.CharField(max_length=998)
    body_text = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(required=False)

    def __init__(self, *args: Any, addresses: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        to = cast(forms.ChoiceField, self.fields["to"])  # the field declared above
        to.choices = [(a, a) for a in addresses] + [("", "Another address…")]
        self.fields["to"].initial = addresses[0] if addresses else ""

    def clean_attachments(self) -> list[UploadedFile[bytes]]:
        files: list[UploadedFile[bytes]] = self.cleaned_data["attachments"]
        if sum(f.size or 0 for f in files) > MAX_ATTACHMENTS_BYTES:
            limit = filesizeformat(MAX_ATTACHMENTS_BYTES)
            raise forms.ValidationError(f"Attachments may add up to {limit} at most.")
        return files

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        typed = cleaned.get("new_to", "")
        if typed:
            try:
                cleaned["to"] = normalise_email_address(typed)
            except ValidationError:
                self.add_error("new_to", "Enter a valid email address.")
        elif not cleaned.get("to") and "to" not in self.errors:
            self.add_error("to", "Choose one of the candidate's addresses or type another.")
        return cleaned

    def draft(self) -> Draft:
        data = self.cleaned_data
        return Draft(
            to=data["to"],
            subject=data["subject"],
            body_text=data["body_text"],
            attachments=tuple(
                OutgoingAttachment(
                    filename=f.name or "",
                    content_type=f.content_type or "application/octet-stream",
                    content=f.read(),
                )
                for f in data["attachments"]
            ),
        )


class ReplyForm(ComposeForm):
    """A reply on a thread: its subject follows the thread's."""

    def __init__(self, *args: Any, thread: EmailThread, **kwargs: Any) -> None:
        # Every thread on the page has one of these forms: ids must not collide.
        kwargs.setdefault("auto_id", f"id_{thread.pk.hex}_%s")
        super().__init__(*args, **kwargs)
        del self.fields["subject"]
        subject = thread.subject
        self.reply_subject = (
            subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["subject"] = self.reply_subject
        return cleaned
