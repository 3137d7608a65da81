"""Reads over sandbox mailboxes, shaped for keyset paging over very large mailboxes."""

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from sandbox.models import CalendarEvent, HistoryEvent, Label, Mailbox, Message
from sandbox.services import SandboxError

MESSAGE_LIST_FIELDS = ("id", "provider_id", "thread_id", "internal_date")


@dataclass
class Page:
    rows: list
    next_token: str
    estimate: int


def encode_token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict:
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(data)
    except ValueError as error:
        raise SandboxError("invalid", "Invalid pageToken") from error
    if not isinstance(payload, dict):
        raise SandboxError("invalid", "Invalid pageToken")
    return payload


def mailbox_by_address(address: str) -> Mailbox | None:
    return Mailbox.objects.filter(address=address.strip().lower()).first()


def mailbox_list() -> QuerySet[Mailbox]:
    return Mailbox.objects.annotate(message_count=Count("messages")).order_by("address")


def messages_without_raw(mailbox: Mailbox) -> QuerySet[Message]:
    return Message.objects.filter(mailbox=mailbox).defer("raw")


def message_get(*, mailbox: Mailbox, provider_id: str, with_raw: bool = True) -> Message:
    messages = Message.objects.filter(mailbox=mailbox, provider_id=provider_id)
    if not with_raw:
        messages = messages.defer("raw")
    # (mailbox, provider_id) is unique: a slice avoids first()'s ORDER BY.
    message = next(iter(messages[:1]), None)
    if message is None:
        raise SandboxError("not_found", "Requested entity was not found.")
    return message


def messages_by_ids(*, mailbox: Mailbox, provider_ids: list[str]) -> list[Message]:
    """The messages among `provider_ids` that the mailbox holds, without their bytes."""
    return list(
        Message.objects.filter(mailbox=mailbox, provider_id__in=set(provider_ids)).defer("raw")
    )


def _listed(
    mailbox: Mailbox, where: Q, label_ids: list[str], include_spam_trash: bool
) -> QuerySet[Message]:
    """The messages a list call matches: its query, every label asked for, and (unless
    asked for) nothing in SPAM or TRASH."""
    messages = Message.objects.filter(mailbox=mailbox).filter(where)
    for label_id in label_ids:
        messages = messages.filter(label_ids__contains=f" {label_id} ")
    if not include_spam_trash:
        for hidden in ("SPAM", "TRASH"):
            if hidden not in label_ids:
                messages = messages.exclude(label_ids__contains=f" {hidden} ")
    return messages


def message_page(
    *,
    mailbox: Mailbox,
    where: Q,
    label_ids: list[str],
    include_spam_trash: bool,
    page_token: str,
    limit: int,
) -> Page:
    """Newest first, keyset-paged on (internal_date, id) so page 200 costs what page 1 does.
    The size estimate is counted once, on the first page, and carried in the token."""
    messages = _listed(mailbox, where, label_ids, include_spam_trash)
    if page_token:
        cursor = decode_token(page_token)
        after_date, after_id = int(cursor.get("d", 0)), int(cursor.get("i", 0))
        estimate = int(cursor.get("n", 0))
        messages = messages.filter(
            Q(internal_date__lt=after_date) | Q(internal_date=after_date, id__lt=after_id)
        )
    else:
        estimate = messages.count()
    rows = list(
        messages.order_by("-internal_date", "-id").values_list(*MESSAGE_LIST_FIELDS)[: limit + 1]
    )
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = encode_token({"d": last[3], "i": last[0], "n": estimate})
    return Page(rows=rows, next_token=next_token, estimate=estimate)


def thread_page(
    *,
    mailbox: Mailbox,
    where: Q,
    label_ids: list[str],
    include_spam_trash: bool,
    page_token: str,
    limit: int,
) -> Page:
    """threads.list: the threads holding at least one matching message, the thread with the
    newest message first, keyset-paged on (newest internal_date, thread id). Each row is
    (thread id, newest message's snippet, the thread's highest history id)."""
    threads = (
        _listed(mailbox, where, label_ids, include_spam_trash)
        .values("thread_id")
        .annotate(newest=Max("internal_date"))
    )
    if page_token:
        cursor = decode_token(page_token)
        after_date, after_thread = int(cursor.get("d", 0)), str(cursor.get("t", ""))
        estimate = int(cursor.get("n", 0))
        threads = threads.filter(
            Q(newest__lt=after_date) | Q(newest=after_date, thread_id__lt=after_thread)
        )
    else:
        estimate = threads.count()
    found = list(threads.order_by("-newest", "-thread_id")[: limit + 1])
    next_token = ""
    if len(found) > limit:
        found = found[:limit]
        last = found[-1]
        next_token = encode_token({"d": last["newest"], "t": last["thread_id"], "n": estimate})
    ids = [row["thread_id"] for row in found]
    snippets: dict[str, str] = {}
    history: dict[str, int] = {}
    for thread_id, snippet, history_id in (
        Message.objects.filter(mailbox=mailbox, thread_id__in=ids)
        .order_by("internal_date", "id")
        .values_list("thread_id", "snippet", "history_id")
    ):
        snippets[thread_id] = snippet  # the newest message's, as Gmail's thread snippet
        history[thread_id] = max(history.get(thread_id, 0), history_id)
    rows = [
        (thread_id, snippets.get(thread_id, ""), history.get(thread_id, 0)) for thread_id in ids
    ]
    return Page(rows=rows, next_token=next_token, estimate=estimate)


def history_page(
    *,
    mailbox: Mailbox,
    start_history_id: int,
    kinds: list[str],
    label_id: str,
    page_token: str,
    limit: int,
) -> Page:
    events = HistoryEvent.objects.filter(mailbox=mailbox, history_id__gt=start_history_id)
    if kinds:
        events = events.filter(kind__in=kinds)
    if label_id:
        events = events.filter(
            Q(message_label_ids__contains=f" {label_id} ")
            | Q(kind=HistoryEvent.Kind.LABEL_REMOVED, changed_label_ids__contains=label_id)
        )
    if page_token:
        # History ids are unique within a mailbox, so they are the cursor.
        events = events.filter(history_id__gt=int(decode_token(page_token).get("h", 0)))
    rows = list(events.order_by("history_id")[: limit + 1])
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = encode_token({"h": rows[-1].history_id})
    return Page(rows=rows, next_token=next_token, estimate=len(rows))


def thread_messages(*, mailbox: Mailbox, thread_id: str, with_raw: bool) -> list[Message]:
    messages = Message.objects.filter(mailbox=mailbox, thread_id=thread_id)
    if not with_raw:
        messages = messages.defer("raw")
    found = list(messages.order_by("internal_date", "id"))
    if not found:
        raise SandboxError("not_found", "Requested entity was not found.")
    return found


def labels_by_name(mailbox: Mailbox) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for provider_id, name in Label.objects.filter(mailbox=mailbox).values_list(
        "provider_id", "name"
    ):
        mapping[name.lower()] = provider_id
        mapping[provider_id.lower()] = provider_id
    return mapping


def folder_tabs(mailbox: Mailbox) -> list[tuple[str, str]]:
    """(label id, name) of a Microsoft mailbox's folders for the web page: the well-known
    ones first, then sub-folders as "Parent / Child"."""
    labels = list(Label.objects.filter(mailbox=mailbox).exclude(provider_id="UNREAD"))
    names = {label.provider_id: label.name for label in labels}
    tabs = []
    for label in labels:
        parent = label.options.get("parent")
        name = f"{names.get(parent, parent)} / {label.name}" if parent else label.name
        tabs.append((label.provider_id, name))
    return tabs


def mailbox_totals(mailbox: Mailbox) -> tuple[int, int]:
    messages = Message.objects.filter(mailbox=mailbox)
    total = messages.count()
    threads = messages.values("thread_id").distinct().count() if total else 0
    return total, threads


LIST_PAGE_FIELDS = (
    "id",
    "provider_id",
    "thread_id",
    "subject",
    "from_addr",
    "from_name",
    "to_addrs",
    "snippet",
    "label_ids",
    "internal_date",
)


# --- Calendars ---------------------------------------------------------------------------


def calendar_event_get(*, mailbox: Mailbox, provider_id: str) -> CalendarEvent:
    found = CalendarEvent.objects.filter(mailbox=mailbox, provider_id=provider_id)[:1]
    event = next(iter(found), None)
    if event is None:
        raise SandboxError("not_found", "Not Found")
    return event


def calendar_events(
    *,
    mailbox: Mailbox,
    private_properties: dict[str, str] | None = None,
    time_min: datetime | None = None,
    time_max: datetime | None = None,
    show_deleted: bool = False,
    changed_after: int | None = None,
    ical_uid: str = "",
) -> QuerySet[CalendarEvent]:
    """A calendar's events matching every given constraint: each private property equal,
    ending after `time_min`, starting before `time_max`, changed after a position of the
    change counter (cancelled ones included then, as a sync must see deletions)."""
    events = CalendarEvent.objects.filter(mailbox=mailbox)
    for number, (name, value) in enumerate((private_properties or {}).items()):
        alias = f"private_{number}"
        events = events.alias(**{alias: KeyTransform(name, "private_properties")}).filter(
            **{alias: value}
        )
    if time_min is not None:
        events = events.filter(end__gt=time_min)
    if time_max is not None:
        events = events.filter(start__lt=time_max)
    if ical_uid:
        events = events.filter(ical_uid=ical_uid)
    if changed_after is not None:
        events = events.filter(changed_seq__gt=changed_after)
    elif not show_deleted:
        events = events.exclude(status=CalendarEvent.Status.CANCELLED)
    return events


def calendar_busy(
    *, mailbox: Mailbox, time_min: datetime, time_max: datetime
) -> list[tuple[datetime, datetime]]:
    """The calendar's busy periods inside [time_min, time_max), merged: events that are
    not cancelled, not marked free (transparent) and not declined by the owner."""
    events = calendar_events(mailbox=mailbox, time_min=time_min, time_max=time_max).filter(
        transparent=False
    )
    periods: list[tuple[datetime, datetime]] = []
    for event in events.order_by("start", "end"):
        declined = any(
            str(a.get("email", "")).lower() == mailbox.address
            and a.get("responseStatus") == "declined"
            for a in event.attendees
        )
        if declined:
            continue
        start, end = max(event.start, time_min), min(event.end, time_max)
        if periods and start <= periods[-1][1]:
            periods[-1] = (periods[-1][0], max(periods[-1][1], end))
        else:
            periods.append((start, end))
    return periods
