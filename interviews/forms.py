from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms

from accounts.models import User
from interviews.selectors import SlotSearch

MAX_WINDOW_DAYS = 14
DURATIONS = [
    (15, "15 minutes"),
    (30, "30 minutes"),
    (45, "45 minutes"),
    (60, "1 hour"),
    (90, "1½ hours"),
]
TIME_ZONES = sorted(available_timezones() - {"localtime", "Factory"})


class ColleagueChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name or obj.email} <{obj.email}>"


class SlotSearchForm(forms.Form):
    """What to look for: how long, with whom, on which days, in which time zone. Without
    `interviewers` (rescheduling) the attendees and title stay as they were."""

    title = forms.CharField(max_length=300)
    duration = forms.TypedChoiceField(choices=DURATIONS, coerce=int, initial=60)
    interviewers = ColleagueChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="Colleagues with Calendar connected. Their free/busy is read.",
    )
    first_day = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    time_zone = forms.ChoiceField(
        choices=[(zone, zone) for zone in TIME_ZONES],
        help_text="Slots are proposed in this time zone, the event is created in it.",
    )
    invitation = forms.CharField(
        label="Invitation text",
        required=False,
        max_length=8000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Sent with the invitation by your calendar; Threadline does not keep it.",
    )

    def __init__(
        self,
        *args: Any,
        interviewers: Iterable[User] | None,
        today: date,
        zone_from_browser: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        if zone_from_browser:
            # Before their first interview the organiser's zone is unknown on the server
            # (Google's scopes we hold do not read calendar settings): the browser's zone
            # is preselected by static/js/threadline.js, the server's default otherwise.
            self.fields["time_zone"].widget.attrs["data-zone-from-browser"] = ""
        if interviewers is None:
            del self.fields["interviewers"]
            del self.fields["title"]
        else:
            field = self.fields["interviewers"]
            assert isinstance(field, ColleagueChoiceField)
            field.queryset = User.objects.filter(pk__in=[user.pk for user in interviewers])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first is not None and first < self.today:
            self.add_error("first_day", "Choose today or a later day.")
        if first is not None and last is not None:
            if last < first:
                self.add_error("last_day", "The last day comes before the first.")
            elif (last - first).days >= MAX_WINDOW_DAYS:
                self.add_error("last_day", f"Look at most {MAX_WINDOW_DAYS} days ahead at once.")
        return cleaned

    def search(self) -> SlotSearch:
        data = self.cleaned_data
        return SlotSearch(
            first_day=data["first_day"],
            last_day=data["last_day"],
            duration=timedelta(minutes=data["duration"]),
            time_zone=data["time_zone"],
        )


class SlotChoiceForm(SlotSearchForm):
    """The search again (hidden on the slots page) with the chosen slot's start."""

    start = forms.CharField(widget=forms.HiddenInput, error_messages={"required": "Choose a slot."})

    def clean_start(self) -> datetime:
        value = self.cleaned_data["start"]
        try:
            start = datetime.fromisoformat(value)
        except ValueError as error:
            raise forms.ValidationError("Choose one of the proposed slots.") from error
        if start.tzinfo is None:
            raise forms.ValidationError("Choose one of the proposed slots.")
        return start.astimezone(UTC)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, zone = cleaned.get("start"), cleaned.get("time_zone")
        if isinstance(start, datetime) and zone:
            cleaned["start"] = start.astimezone(ZoneInfo(zone))
        return cleaned


class CancelForm(forms.Form):
    message = forms.CharField(
        label="Message to the attendees",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; sent with the cancellation, not kept.",
    )

    def __init__(self, *args: Any, with_message: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_message:
            # The provider's cancellation carries no text of ours (Google): no field that
            # would silently drop what was typed.
            del self.fields["message"]
