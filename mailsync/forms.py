"""The Emails tab's forms: compose and reply, sent from the user's own mailbox."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from candidates.addresses import normalise_email_address
from candidates.models import EmailThread
from mailsync.mime import OutgoingAttachment
from mailsync.models import DraftAttachment
from mailsync.sending import (
    MAX_ATTACHMENTS_BYTES,
    Draft,
    blocked_extension,
    draft_attachment_outgoing,
)

MAX_COPY_RECIPIENTS = 50
_ADDRESS_SEPARATORS = re.compile(r"[,;\s]+")


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


class AddressListField(forms.CharField):
    """Cc and Bcc: addresses separated by commas, semicolons or spaces."""

    def clean(self, value: Any) -> tuple[str, ...]:
        text = super().clean(value)
        addresses: list[str] = []
        invalid: list[str] = []
        for item in filter(None, _ADDRESS_SEPARATORS.split(text or "")):
            try:
                addresses.append(normalise_email_address(item))
            except ValidationError:
                invalid.append(item)
        if invalid:
            raise ValidationError(f"Not a valid email address: {', '.join(invalid)}.")
        if len(addresses) > MAX_COPY_RECIPIENTS:
            raise ValidationError(f"At most {MAX_COPY_RECIPIENTS} addresses.")
        return tuple(dict.fromkeys(addresses))


def _outgoing(upload: UploadedFile[bytes]) -> OutgoingAttachment:
    upload.seek(0)  # read once for the send, again to keep it when the send was refused
    return OutgoingAttachment(
        filename=upload.name or "attachment",
        content_type=upload.content_type or "application/octet-stream",
        content=upload.read(),
    )


def _limit() -> str:
    return str(filesizeformat(MAX_ATTACHMENTS_BYTES))


class ComposeForm(forms.Form):
    """A new email to the candidate, sent from the user's own mailbox (so no From field).

    One To control: one of the candidate's addresses (offered as suggestions) or another,
    which is added to the profile when the email is sent. Files the server refused to
    send come back as `kept_attachments` (ticked "keep" boxes), so nothing is picked twice.
    """

    to = forms.CharField(label="To", max_length=254, widget=forms.EmailInput())
    cc = AddressListField(label="Cc", required=False, max_length=5000)
    bcc = AddressListField(label="Bcc", required=False, max_length=5000)
    subject = forms.CharField(max_length=998)
    body_text = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 6}))
    attachments = MultipleFileField(
        required=False, help_text=f"Up to {_limit()} in all, kept files included."
    )
    # Ids of files kept from a refused try (rendered as ticked boxes, not by this widget).
    keep = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    # One per rendered form: a second submit of the same form sends nothing twice.
    send_token = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    def __init__(
        self,
        *args: Any,
        addresses: list[str],
        kept: Sequence[DraftAttachment] = (),
        candidate_name: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.addresses = addresses
        self.kept_attachments = list(kept)
        self.fields["to"].initial = addresses[0] if addresses else ""
        self.fields["to"].help_text = (
            f"An address not yet on {candidate_name or 'the candidate'}'s profile is added "
            "to it when you send. Addresses in Cc and Bcc are not added."
        )
        self.fields["to"].widget.attrs.update({"list": self.suggestions_id, "autocomplete": "off"})
        # Typing asks for people to write to: candidates the user sees and their contacts.
        to_id = self["to"].id_for_label
        self.fields["to"].widget.attrs.update(
            {
                "hx-get": reverse("mailsync:person_suggestions", args=["to"]),
                "hx-vals": json.dumps({"target": to_id}),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": f"#{self.people_id}",
                "hx-sync": "this:replace",
                "aria-controls": self.people_id,
            }
        )
        self.fields["send_token"].initial = uuid.uuid4().hex
        self.fields["attachments"].widget.attrs.update(
            {"data-max-bytes": str(MAX_ATTACHMENTS_BYTES), "data-max-label": _limit()}
        )

    @property
    def suggestions_id(self) -> str:
        return f"{self.auto_id % 'to' if isinstance(self.auto_id, str) else 'to'}-addresses"

    @property
    def people_id(self) -> str:
        """Where the suggestions for To appear."""
        return f"{self.suggestions_id}-people"

    @property
    def kept_bytes(self) -> int:
        return sum(k.size for k in self.kept_attachments)

    def clean_to(self) -> str:
        try:
            return normalise_email_address(self.cleaned_data["to"])
        except ValidationError:
            raise ValidationError("Enter a valid email address.") from None

    def clean_keep(self) -> list[DraftAttachment]:
        wanted = set(self.cleaned_data["keep"] or ())
        found = [k for k in self.kept_attachments if str(k.pk) in wanted]
        if len(found) < len(wanted):
            # Cleaned up after a day, or sent meanwhile from another tab.
            self.add_error(
                "attachments",
                "A file kept from an earlier try is no longer available; attach it again.",
            )
        return found

    def clean_attachments(self) -> list[UploadedFile[bytes]]:
        files: list[UploadedFile[bytes]] = self.cleaned_data["attachments"]
        problems = [
            f"{f.name}: this type of file (.{extension}) cannot be sent by email."
            for f in files
            if (extension := blocked_extension(f.name or ""))
        ] + [
            f"{f.name} is {filesizeformat(f.size or 0)}: a message may carry {_limit()} of files."
            for f in files
            if (f.size or 0) > MAX_ATTACHMENTS_BYTES
        ]
        if problems:
            raise ValidationError(problems)
        return files

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "attachments" in cleaned and "keep" in cleaned:
            total = sum(f.size or 0 for f in cleaned["attachments"]) + sum(
                k.size for k in cleaned["keep"]
            )
            if total > MAX_ATTACHMENTS_BYTES:
                self.add_error("attachments", f"Attachments may add up to {_limit()} at most.")
        return cleaned

    def uploads_worth_keeping(self) -> list[OutgoingAttachment]:
        """The files just chosen that could be sent on another try: not of a blocked type
        and not over the limit on their own."""
        return [
            _outgoing(f)
            for f in self.files.getlist("attachments")
            if (f.size or 0) <= MAX_ATTACHMENTS_BYTES and not blocked_extension(f.name or "")
        ]

    def keep_for_next_try(self, stored: Sequence[DraftAttachment]) -> None:
        """After a refusal: show the files still ticked and those just stored as kept."""
        ticked = set(self.data.getlist("keep")) if hasattr(self.data, "getlist") else set()
        self.kept_attachments = [
            *(k for k in self.kept_attachments if str(k.pk) in ticked),
            *stored,
        ]

    def draft(self) -> Draft:
        data = self.cleaned_data
        kept: list[DraftAttachment] = data["keep"]
        return Draft(
            to=data["to"],
            cc=data["cc"],
            bcc=data["bcc"],
            subject=data["subject"],
            body_text=data["body_text"],
            attachments=(
                *(draft_attachment_outgoing(k) for k in kept),
                *(_outgoing(f) for f in data["attachments"]),
            ),
            kept_attachment_ids=tuple(k.pk for k in kept),
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


# --- Add a thread from my mailbox ---------------------------------------------------------


class ThreadSearchForm(forms.Form):
    q = forms.CharField(
        label="Search your mailbox",
        max_length=200,
        required=False,
        help_text="An address, a name or words of the subject.",
    )


class AttachToCandidateForm(forms.Form):
    """Attach to a candidate the user picked from the typeahead (their id)."""

    candidate = forms.UUIDField(
        label="Candidate",
        error_messages={
            "required": "Choose a candidate.",
            "invalid": "Choose one of the candidates you can see.",
        },
    )


class AttachNewCandidateForm(forms.Form):
    """A new candidate from the conversation's counterpart; the service normalises and
    checks the address as every other way of adding one does."""

    full_name = forms.CharField(label="Name", max_length=200)
    email = forms.CharField(label="Email address", max_length=320)


class ImportForm(forms.Form):
    """Import candidate email; bringing removed mail back needs a second, explicit tick."""

    include_removed = forms.BooleanField(required=False)
    confirm_removed = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if cleaned.get("include_removed") and not cleaned.get("confirm_removed"):
            self.add_error(
                "confirm_removed",
                "Tick this to confirm that the removed emails come back on the profile.",
            )
        return cleaned
