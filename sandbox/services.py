"""Writes to sandbox mailboxes: create, insert (with threading and history), send and deliver,
labels and folders, history retention, limits and fault injection. Provider-neutral; the
Google and Microsoft modules map `SandboxError` to their providers' error bodies."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sandbox import ids, mime, quota, routing
from sandbox.models import (
    AdminConsent,
    CalendarEvent,
    Category,
    HistoryEvent,
    Label,
    Mailbox,
    Message,
    Provider,
    Tenant,
)

# Gmail's system labels.
SYSTEM_LABELS = [
    "INBOX",
    "SENT",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
]
# A Microsoft mailbox's well-known folders, under the label ids that sending and delivery
# use for every provider, with Outlook's display names. UNREAD is a flag, not a folder.
MICROSOFT_FOLDERS = {
    "INBOX": "Inbox",
    "SENT": "Sent Items",
    "DRAFT": "Drafts",
    "TRASH": "Deleted Items",
    "SPAM": "Junk Email",
    "ARCHIVE": "Archive",
    "OUTBOX": "Outbox",
}
MICROSOFT_FLAGS = ["UNREAD"]
# Labels a client may not put on a message by hand.
UNASSIGNABLE_LABELS = {"DRAFT", "SENT", "CHAT"}
INBOX_LABELS = ("INBOX", "UNREAD")


class SandboxError(Exception):
    """A request the sandbox refuses. `kind` is one of: invalid, not_found, conflict, gone
    (the resource was deleted)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Fault:
    status: int | None
    delay: float
    retry_after: int = 1


def wrap_labels(labels: Iterable[str]) -> str:
    unique = list(dict.fromkeys(labels))
    return " " + " ".join(unique) + " " if unique else " "


def wrap_addresses(addresses: Iterable[str]) -> str:
    return wrap_labels(a.lower() for a in addresses)


def new_message_id(internal_date_ms: int) -> str:
    return ids.gmail_message_id(internal_date_ms)


def _system_labels(provider: str) -> dict[str, str]:
    if provider == Provider.MICROSOFT:
        return {**MICROSOFT_FOLDERS, **{flag: flag for flag in MICROSOFT_FLAGS}}
    return {name: name for name in SYSTEM_LABELS}


# --- Tenants and mailboxes ---------------------------------------------------------------


def tenant_for_domain(*, domain: str, gcc_high: bool = False) -> Tenant:
    """The tenant owning a mail domain, created on first use. Marking it GCC High sticks."""
    domain = domain.strip().lower()
    tenant, _ = Tenant.objects.get_or_create(
        domain=domain, defaults={"tenant_id": str(uuid.uuid4()), "gcc_high": gcc_high}
    )
    if gcc_high and not tenant.gcc_high:
        tenant.gcc_high = True
        tenant.save(update_fields=["gcc_high"])
    return tenant


def mailbox_create(
    *,
    address: str,
    provider: str = Provider.GOOGLE,
    display_name: str = "",
    gcc_high: bool = False,
) -> Mailbox:
    address = address.strip().lower()
    if not address or "@" not in address:
        raise SandboxError("invalid", f"Not an email address: {address!r}")
    if gcc_high and provider != Provider.MICROSOFT:
        raise SandboxError("invalid", "Only Microsoft mailboxes belong to a GCC High tenant")
    if Mailbox.objects.filter(address=address).exists():
        raise SandboxError("conflict", f"Mailbox {address} already exists")
    with transaction.atomic():
        tenant = None
        if provider == Provider.MICROSOFT:
            tenant = tenant_for_domain(domain=address.rsplit("@", 1)[1], gcc_high=gcc_high)
        mailbox = Mailbox.objects.create(
            address=address, provider=provider, display_name=display_name, tenant=tenant
        )
        Label.objects.bulk_create(
            Label(mailbox=mailbox, provider_id=label_id, name=name, kind=Label.Kind.SYSTEM)
            for label_id, name in _system_labels(provider).items()
        )
    # Primary keys can come back after a test database flush: start with a clean window.
    quota.forget(mailbox.pk)
    return mailbox


def admin_consent_grant(*, tenant: Tenant, client_id: str, scopes: list[str]) -> AdminConsent:
    """Record a tenant-wide consent; a later one for the same client replaces it."""
    with transaction.atomic():
        AdminConsent.objects.filter(tenant=tenant, client_id=client_id).delete()
        return AdminConsent.objects.create(
            tenant=tenant, client_id=client_id, scopes=" ".join(dict.fromkeys(scopes))
        )


def history_ids_allocate(mailbox: Mailbox, count: int) -> int:
    """Reserve `count` consecutive history ids; returns the first. Call inside atomic()."""
    Mailbox.objects.filter(pk=mailbox.pk).update(history_id=F("history_id") + count)
    mailbox.refresh_from_db(fields=["history_id"])
    return mailbox.history_id - count + 1


# --- Messages ----------------------------------------------------------------------------


def thread_resolve(
    *, mailbox: Mailbox, parsed: mime.ParsedMessage, requested_thread_id: str = ""
) -> str | None:
    """The thread a message joins: one holding a message its In-Reply-To/References name,
    with the same normalised subject. A requested thread is honoured on the same terms."""
    refs = [*parsed.in_reply_to, *parsed.references]
    if not refs:
        return None
    candidates = Message.objects.filter(
        mailbox=mailbox, rfc822_msgid__in=refs, subject_normalized=parsed.subject_normalized
    )
    if requested_thread_id:
        honoured = candidates.filter(thread_id=requested_thread_id).values_list(
            "thread_id", flat=True
        )
        if honoured.exists():
            return requested_thread_id
    return candidates.order_by("internal_date").values_list("thread_id", flat=True).first()


def new_thread_id(mailbox: Mailbox, provider_id: str) -> str:
    # A Gmail thread is named after its first message; Graph conversations have own ids.
    if mailbox.provider == Provider.MICROSOFT:
        return ids.graph_conversation_id()
    return provider_id


def new_provider_id(mailbox: Mailbox, internal_date: int) -> str:
    if mailbox.provider == Provider.MICROSOFT:
        return ids.graph_rest_id()
    return new_message_id(internal_date)


def message_insert(
    *,
    mailbox: Mailbox,
    raw: bytes,
    labels: Iterable[str],
    internal_date: int | None = None,
    requested_thread_id: str = "",
    parsed: mime.ParsedMessage | None = None,
    thread_id: str = "",
    immutable_id: str = "",
) -> Message:
    """Store one message. `thread_id` and `immutable_id` keep the identity of an earlier
    row (a sent draft keeps its Graph conversation and immutable id)."""
    parsed = parsed or mime.parse(raw)
    internal_date = internal_date or mime.epoch_ms()
    label_ids = wrap_labels(labels)
    with transaction.atomic():
        history_id = history_ids_allocate(mailbox, 1)
        provider_id = new_provider_id(mailbox, internal_date)
        if mailbox.provider == Provider.MICROSOFT:
            immutable_id = immutable_id or ids.graph_immutable_id()
        thread_id = (
            thread_id
            or thread_resolve(
                mailbox=mailbox, parsed=parsed, requested_thread_id=requested_thread_id
            )
            or new_thread_id(mailbox, provider_id)
        )
        message = Message.objects.create(
            mailbox=mailbox,
            provider_id=provider_id,
            thread_id=thread_id,
            immutable_id=immutable_id,
            raw=raw,
            rfc822_msgid=parsed.message_id,
            subject=parsed.subject[:1000],
            subject_normalized=parsed.subject_normalized[:1000],
            from_addr=parsed.from_addr,
            from_name=parsed.from_name[:320],
            to_addrs=wrap_addresses(parsed.to),
            cc_addrs=wrap_addresses(parsed.cc),
            bcc_addrs=wrap_addresses(parsed.bcc),
            headers=parsed.headers,
            snippet=parsed.snippet,
            label_ids=label_ids,
            internal_date=internal_date,
            size=len(raw),
            history_id=history_id,
            has_attachments=parsed.has_attachments,
        )
        HistoryEvent.objects.create(
            mailbox=mailbox,
            history_id=history_id,
            kind=HistoryEvent.Kind.MESSAGE_ADDED,
            message_id=message.provider_id,
            thread_id=message.thread_id,
            immutable_id=message.immutable_id,
            message_label_ids=label_ids,
        )
        if " DRAFT " not in label_ids:
            routing.routing_apply(mailbox=mailbox, raw=raw, parsed=parsed)
    return message


def message_deliver(
    *, mailbox: Mailbox, raw: bytes, labels: Iterable[str] = INBOX_LABELS
) -> Message:
    """Inbound mail from outside the sandbox (the `deliver` command, a test)."""
    return message_insert(mailbox=mailbox, raw=raw, labels=labels)


def message_send(
    *,
    mailbox: Mailbox,
    raw: bytes,
    thread_id: str = "",
    draft: Message | None = None,
    save_copy: bool = True,
) -> Message | None:
    """Submit a message as `mailbox`: keep a copy labelled SENT (unless `save_copy` is
    false) and deliver one (without Bcc) to every recipient that is a sandbox mailbox.
    Sending a `draft` replaces it with the sent copy, which keeps its conversation and
    immutable id. Returns the sender's copy."""
    raw = mime.prepare_outgoing(raw, sender=mailbox.address, sender_name=mailbox.display_name)
    parsed = mime.parse(raw)
    recipients = parsed.recipients
    if not recipients:
        raise SandboxError("invalid", "Recipient address required")
    sent_labels = ["SENT"]
    if mailbox.address in recipients:
        sent_labels += list(INBOX_LABELS)
    now = mime.epoch_ms()
    sent = None
    with transaction.atomic():
        if draft is not None:
            message_delete(message=draft)
        if save_copy:
            sent = message_insert(
                mailbox=mailbox,
                raw=raw,
                labels=sent_labels,
                internal_date=now,
                requested_thread_id=thread_id,
                parsed=parsed,
                thread_id=draft.thread_id if draft else "",
                immutable_id=draft.immutable_id if draft else "",
            )
        delivered = mime.strip_bcc(raw)
        delivered_parsed = mime.parse(delivered)
        for recipient in Mailbox.objects.filter(address__in=recipients).exclude(pk=mailbox.pk):
            message_insert(
                mailbox=recipient,
                raw=delivered,
                labels=INBOX_LABELS,
                internal_date=now,
                parsed=delivered_parsed,
            )
        if not save_copy:  # no copy kept, but the message still passed the sender's rules
            routing.routing_apply(mailbox=mailbox, raw=raw, parsed=parsed)
    return sent


def message_modify_labels(
    *, message: Message, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> Message:
    messages_modify_labels(mailbox=message.mailbox, messages=[message], add=add, remove=remove)
    return message


def messages_modify_labels(
    *,
    mailbox: Mailbox,
    messages: list[Message],
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> None:
    """Add and remove labels on `messages` (Gmail's modify and batchModify), with a
    history record for each message whose labels changed."""
    add, remove = list(dict.fromkeys(add)), list(dict.fromkeys(remove))
    known = set(Label.objects.filter(mailbox=mailbox).values_list("provider_id", flat=True))
    for label_id in [*add, *remove]:
        if label_id not in known or (label_id in UNASSIGNABLE_LABELS and label_id in add):
            raise SandboxError("invalid", f"Invalid label: {label_id}")
    changes = []
    for message in messages:
        current = message.labels
        added = [label for label in add if label not in current and label not in remove]
        removed = [label for label in remove if label in current]
        if added or removed:
            changes.append((message, added, removed))
    if not changes:
        return
    count = sum(bool(added) + bool(removed) for _, added, removed in changes)
    with transaction.atomic():
        next_id = history_ids_allocate(mailbox, count)
        events = []
        for message, added, removed in changes:
            message.label_ids = wrap_labels(
                [label for label in message.labels if label not in removed] + added
            )
            for kind, changed in (
                (HistoryEvent.Kind.LABEL_ADDED, added),
                (HistoryEvent.Kind.LABEL_REMOVED, removed),
            ):
                if changed:
                    events.append(
                        HistoryEvent(
                            mailbox_id=mailbox.pk,
                            history_id=next_id,
                            kind=kind,
                            message_id=message.provider_id,
                            thread_id=message.thread_id,
                            immutable_id=message.immutable_id,
                            changed_label_ids=" ".join(changed),
                            message_label_ids=message.label_ids,
                        )
                    )
                    message.history_id = next_id
                    next_id += 1
        HistoryEvent.objects.bulk_create(events)
        Message.objects.bulk_update(
            [message for message, _, _ in changes], ["label_ids", "history_id"]
        )


def _history_event(message: Message, history_id: int, kind: str, **fields) -> HistoryEvent:
    return HistoryEvent(
        mailbox_id=message.mailbox_id,
        history_id=history_id,
        kind=kind,
        message_id=message.provider_id,
        thread_id=message.thread_id,
        immutable_id=message.immutable_id,
        message_label_ids=fields.pop("message_label_ids", message.label_ids),
        **fields,
    )


def message_delete(*, message: Message) -> None:
    """Remove a message for good. The history keeps the labels it had, so a folder's
    change feed can report it as removed."""
    with transaction.atomic():
        history_id = history_ids_allocate(message.mailbox, 1)
        _history_event(message, history_id, HistoryEvent.Kind.MESSAGE_DELETED).save()
        message.delete()


def message_move(*, message: Message, folder: str) -> Message:
    """Move a message to another folder (Microsoft: one folder per message, flags kept).
    A Graph REST id names a message in a folder, so the message gets a new one; its
    immutable id stays. Removal is recorded under the old id, arrival under the new."""
    known = Label.objects.filter(mailbox_id=message.mailbox_id, provider_id=folder).first()
    if known is None or known.provider_id in MICROSOFT_FLAGS:
        raise SandboxError("not_found", f"Folder {folder} not found")
    flags = [label for label in message.labels if label in MICROSOFT_FLAGS]
    leaving = [label for label in message.labels if label not in flags]
    if leaving == [folder]:
        return message
    with transaction.atomic():
        first = history_ids_allocate(message.mailbox, 2)
        removed = _history_event(
            message,
            first,
            HistoryEvent.Kind.LABEL_REMOVED,
            changed_label_ids=" ".join(leaving),
            message_label_ids=wrap_labels(flags),
        )
        message.label_ids = wrap_labels([folder, *flags])
        if message.mailbox.provider == Provider.MICROSOFT:
            message.provider_id = ids.graph_rest_id()
        added = _history_event(
            message, first + 1, HistoryEvent.Kind.LABEL_ADDED, changed_label_ids=folder
        )
        HistoryEvent.objects.bulk_create([removed, added])
        message.history_id = first + 1
        message.save(update_fields=["label_ids", "provider_id", "history_id"])
    return message


def message_file(*, message: Message, folder: str) -> Message:
    """What a user's "move out of the inbox" does on each provider: Gmail archives
    (INBOX off) and, for any other label than ARCHIVE, puts that label on; Microsoft moves
    the message to that folder (one folder per message)."""
    if message.mailbox.provider == Provider.MICROSOFT:
        return message_move(message=message, folder=folder)
    add = [] if folder == "ARCHIVE" else [folder]
    return message_modify_labels(message=message, add=add, remove=["INBOX"])


def message_rewrite(*, message: Message, raw: bytes) -> Message:
    """Replace a draft's content (a Graph PATCH). A draft that lost its threading headers
    leaves its conversation; one that gained them joins the conversation they name."""
    parsed = mime.parse(raw)
    had_refs = any(name.lower() in ("in-reply-to", "references") for name, _ in message.headers)
    with transaction.atomic():
        thread_id = thread_resolve(mailbox=message.mailbox, parsed=parsed)
        if thread_id is None and had_refs and not (parsed.in_reply_to or parsed.references):
            thread_id = new_thread_id(message.mailbox, message.provider_id)
        message.thread_id = thread_id or message.thread_id
        message.raw = raw
        message.rfc822_msgid = parsed.message_id
        message.subject = parsed.subject[:1000]
        message.subject_normalized = parsed.subject_normalized[:1000]
        message.to_addrs = wrap_addresses(parsed.to)
        message.cc_addrs = wrap_addresses(parsed.cc)
        message.bcc_addrs = wrap_addresses(parsed.bcc)
        message.headers = parsed.headers
        message.snippet = parsed.snippet
        message.size = len(raw)
        message.has_attachments = parsed.has_attachments
        message.history_id = history_ids_allocate(message.mailbox, 1)
        _history_event(message, message.history_id, HistoryEvent.Kind.MESSAGE_CHANGED).save()
        message.save()
    return message


def category_create(*, mailbox: Mailbox, name: str, color: str = "none") -> Category:
    """Add to the mailbox's master category list; names are unique, ignoring case."""
    name = (name or "").strip()
    if not name:
        raise SandboxError("invalid", "The category name is missing")
    with transaction.atomic():
        if Category.objects.filter(mailbox=mailbox, name__iexact=name).exists():
            raise SandboxError("conflict", f"A category named {name} already exists.")
        return Category.objects.create(
            mailbox=mailbox, category_id=str(uuid.uuid4()), name=name, color=color or "none"
        )


def message_update(
    *, message: Message, categories: list[str] | None = None, read: bool | None = None
) -> Message:
    """Change Outlook properties that are not folders: categories and the read state."""
    changed: list[str] = []
    if categories is not None:
        unique = list(dict.fromkeys(name.strip() for name in categories if name.strip()))
        if unique != message.categories:
            message.categories = unique
            changed.append("categories")
    if read is not None and read == message.unread:
        labels = [label for label in message.labels if label != "UNREAD"]
        message.label_ids = wrap_labels(labels if read else [*labels, "UNREAD"])
        changed.append("label_ids")
    if not changed:
        return message
    with transaction.atomic():
        message.history_id = history_ids_allocate(message.mailbox, 1)
        _history_event(message, message.history_id, HistoryEvent.Kind.MESSAGE_CHANGED).save()
        message.save(update_fields=[*changed, "history_id"])
    return message


# --- Labels ------------------------------------------------------------------------------


def label_create(*, mailbox: Mailbox, name: str, options: dict | None = None) -> Label:
    name = (name or "").strip()
    if not name or name.upper() in SYSTEM_LABELS:
        raise SandboxError("invalid", "Invalid label name")
    with transaction.atomic():
        if Label.objects.filter(mailbox=mailbox, name__iexact=name).exists():
            raise SandboxError("conflict", "Label name exists or conflicts")
        taken = Label.objects.filter(mailbox=mailbox, kind=Label.Kind.USER).count()
        number = taken + 1
        while Label.objects.filter(mailbox=mailbox, provider_id=f"Label_{number}").exists():
            number += 1
        return Label.objects.create(
            mailbox=mailbox,
            provider_id=f"Label_{number}",
            name=name,
            kind=Label.Kind.USER,
            options=options or {},
        )


def folder_create(*, mailbox: Mailbox, name: str, parent: str = "") -> Label:
    """An Outlook mail folder, top level or inside `parent` (a folder's label id). Names
    are unique among siblings only, as in Outlook."""
    name = (name or "").strip()
    if not name:
        raise SandboxError("invalid", "The folder name is missing")
    with transaction.atomic():
        labels = Label.objects.filter(mailbox=mailbox)
        if parent and not labels.filter(provider_id=parent).exists():
            raise SandboxError("not_found", f"Folder {parent} not found")
        if parent:
            siblings = labels.filter(options__parent=parent)
        else:
            siblings = labels.exclude(options__has_key="parent")
        if any(label.name.lower() == name.lower() for label in siblings):
            raise SandboxError("conflict", "A folder with the specified name already exists.")
        number = Label.objects.filter(mailbox=mailbox, kind=Label.Kind.USER).count() + 1
        while Label.objects.filter(mailbox=mailbox, provider_id=f"Folder_{number}").exists():
            number += 1
        return Label.objects.create(
            mailbox=mailbox,
            provider_id=f"Folder_{number}",
            name=name,
            kind=Label.Kind.USER,
            options={"parent": parent} if parent else {},
        )


# --- History, quota and faults -----------------------------------------------------------


def history_expire(*, mailbox: Mailbox) -> int:
    """Forget all history so far: any older startHistoryId now means "do a full sync".
    Returns the new floor (the oldest startHistoryId still accepted)."""
    mailbox.refresh_from_db(fields=["history_id"])
    floor = mailbox.history_id
    with transaction.atomic():
        Mailbox.objects.filter(pk=mailbox.pk).update(history_floor=floor)
        HistoryEvent.objects.filter(mailbox=mailbox, history_id__lte=floor).delete()
    mailbox.history_floor = floor
    return floor


def delta_expire(*, mailbox: Mailbox) -> int:
    """Invalidate every Graph delta token issued so far (the next use answers 410): the
    history floor moves past the newest watermark a token can carry."""
    with transaction.atomic():
        history_ids_allocate(mailbox, 1)
    return history_expire(mailbox=mailbox)


def fault_set(
    *,
    mailbox: Mailbox,
    count: int,
    status: int | None = None,
    delay: float = 0,
    retry_after: int = 1,
) -> Mailbox:
    if status is not None and status not in (429, 500, 503):
        raise SandboxError("invalid", "Fault status must be 429, 500 or 503")
    mailbox.fault_status = status
    mailbox.fault_delay = delay
    mailbox.fault_retry_after = max(retry_after, 1)
    mailbox.fault_remaining = max(count, 0)
    mailbox.save(
        update_fields=["fault_status", "fault_delay", "fault_retry_after", "fault_remaining"]
    )
    return mailbox


def fault_consume(*, mailbox: Mailbox) -> Fault | None:
    """Take one pending fault, if any. The conditional update makes concurrent requests
    consume exactly `count` faults between them."""
    if mailbox.fault_remaining <= 0:
        return None
    taken = Mailbox.objects.filter(pk=mailbox.pk, fault_remaining__gt=0).update(
        fault_remaining=F("fault_remaining") - 1
    )
    if not taken:
        mailbox.fault_remaining = 0
        return None
    # Keep the in-memory row honest for callers that reuse it (the calls of one batch).
    mailbox.fault_remaining -= 1
    return Fault(
        status=mailbox.fault_status,
        delay=mailbox.fault_delay,
        retry_after=mailbox.fault_retry_after,
    )


def quota_set(*, mailbox: Mailbox, per_minute: int | None) -> Mailbox:
    mailbox.quota_per_minute = per_minute
    mailbox.save(update_fields=["quota_per_minute"])
    quota.forget(mailbox.pk)
    return mailbox


def graph_limits_set(
    *, mailbox: Mailbox, per_ten_minutes: int | None, concurrent: int | None
) -> Mailbox:
    """Override Graph's per-mailbox limits (None restores 10,000 per 10 minutes, 4 at once)."""
    if concurrent is not None and concurrent < 1:
        raise SandboxError("invalid", "Concurrency must be at least 1")
    mailbox.requests_per_ten_minutes = per_ten_minutes
    mailbox.concurrent_requests = concurrent
    mailbox.save(update_fields=["requests_per_ten_minutes", "concurrent_requests"])
    quota.forget(mailbox.pk)
    return mailbox


# --- Calendars ---------------------------------------------------------------------------
# A sandbox user's calendar is their mailbox. An invitation reaches an attendee who is a
# sandbox user as their own copy of the event (its own row and id, the organiser's
# iCalUID), the way an invitation email adds it to their calendar; changes and
# cancellations reach the copies the same way. Every change moves the mailbox's change
# counter, so sync tokens and delta links are positions in it.

RESPONSES = ("needsAction", "accepted", "declined", "tentative")
# What changing these tells attendees the meeting moved: the iCalendar SEQUENCE goes up.
_RESCHEDULING_FIELDS = {"start", "end", "all_day", "location"}
# Fields an attendee's copy shares with the organiser's event.
_SHARED_FIELDS = (
    "summary",
    "description",
    "location",
    "start",
    "end",
    "time_zone",
    "all_day",
    "attendees",
    "conference",
    "sequence",
    "organizer_email",
)


def _calendar_change(mailbox: Mailbox) -> int:
    return history_ids_allocate(mailbox, 1)


def _invited_mailboxes(
    organizer: Mailbox, attendees: list[dict[str, Any]], send_updates: str
) -> list[Mailbox]:
    """The sandbox users an update reaches: none without notifications, everyone with
    "all", those on another provider with "externalOnly" (Google's vocabulary)."""
    if send_updates not in ("all", "externalOnly"):
        return []
    addresses = {str(a.get("email", "")).lower() for a in attendees} - {organizer.address}
    found = Mailbox.objects.filter(address__in=addresses)
    if send_updates == "externalOnly":
        found = found.exclude(provider=organizer.provider)
    return list(found)


def _copy_for(event: CalendarEvent, attendee: Mailbox, seq: int) -> CalendarEvent:
    now = timezone.now()
    return CalendarEvent(
        mailbox=attendee,
        provider_id=ids.google_event_id(),
        ical_uid=event.ical_uid,
        status=event.status,
        transparent=event.transparent,
        changed_seq=seq,
        created_at=now,
        updated_at=now,
        **{name: getattr(event, name) for name in _SHARED_FIELDS},
    )


def _copies_refresh(event: CalendarEvent, send_updates: str) -> None:
    """Bring attendees' copies in line with the organiser's event when the update is sent:
    update the copies of attendees still invited, cancel those of attendees removed, and
    create the copies of newly invited ones."""
    if send_updates not in ("all", "externalOnly"):
        return
    listed = {str(a.get("email", "")).lower() for a in event.attendees}
    reached = {m.pk: m for m in _invited_mailboxes(event.mailbox, event.attendees, send_updates)}
    copies = CalendarEvent.objects.filter(ical_uid=event.ical_uid).exclude(pk=event.pk)
    now = timezone.now()
    for copy in copies.select_related("mailbox"):
        reached.pop(copy.mailbox_id, None)
        for name in _SHARED_FIELDS:
            setattr(copy, name, getattr(event, name))
        if copy.mailbox.address not in listed:
            copy.status = CalendarEvent.Status.CANCELLED
        else:
            copy.status = event.status
        copy.updated_at = now
        copy.changed_seq = _calendar_change(copy.mailbox)
        copy.save()
    if event.status != CalendarEvent.Status.CANCELLED:
        for attendee in reached.values():
            _copy_for(event, attendee, _calendar_change(attendee)).save()


def calendar_event_create(
    *,
    mailbox: Mailbox,
    fields: dict[str, Any],
    provider_id: str = "",
    send_updates: str = "none",
) -> CalendarEvent:
    """Create an event in `mailbox`'s calendar (`fields` are CalendarEvent fields) and
    deliver the invitation to the attendees `send_updates` reaches."""
    provider_id = provider_id or ids.google_event_id()
    if CalendarEvent.objects.filter(provider_id=provider_id).exists():
        raise SandboxError("conflict", "The requested identifier already exists.")
    with transaction.atomic():
        now = timezone.now()
        event = CalendarEvent(
            mailbox=mailbox,
            provider_id=provider_id,
            ical_uid=fields.pop("ical_uid", "") or f"{provider_id}@google.com",
            organizer_email=mailbox.address,
            created_at=now,
            updated_at=now,
            **fields,
        )
        event.changed_seq = _calendar_change(mailbox)
        event.save()
        _copies_refresh(event, send_updates)
    return event


def calendar_event_update(
    *, event: CalendarEvent, changes: dict[str, Any], send_updates: str = "none"
) -> CalendarEvent:
    """Apply `changes` (CalendarEvent fields) to an event; an organiser's change reaches
    the attendees' copies when `send_updates` sends it."""
    with transaction.atomic():
        moved = any(
            name in _RESCHEDULING_FIELDS and getattr(event, name) != value
            for name, value in changes.items()
        )
        for name, value in changes.items():
            setattr(event, name, value)
        if moved:
            event.sequence += 1
        event.updated_at = timezone.now()
        event.changed_seq = _calendar_change(event.mailbox)
        event.save()
        if event.organizer_email == event.mailbox.address:
            _copies_refresh(event, send_updates)
    return event


def calendar_event_cancel(*, event: CalendarEvent, send_updates: str = "none") -> CalendarEvent:
    if event.status == CalendarEvent.Status.CANCELLED:
        raise SandboxError("gone", "Resource has been deleted")
    return calendar_event_update(
        event=event, changes={"status": CalendarEvent.Status.CANCELLED}, send_updates=send_updates
    )


def calendar_event_respond(*, mailbox: Mailbox, ical_uid: str, response: str) -> CalendarEvent:
    """`mailbox`'s answer to an invitation ("accepted", "declined", "tentative" or back to
    "needsAction"), recorded on their copy and on the organiser's event (where the
    organiser's sync sees it). Returns the attendee's copy."""
    if response not in RESPONSES:
        raise SandboxError("invalid", f"Not a response: {response!r}")
    with transaction.atomic():
        events = list(
            CalendarEvent.objects.select_for_update()
            .select_related("mailbox")
            .filter(ical_uid=ical_uid)
            .order_by("pk")
        )
        own = next((e for e in events if e.mailbox_id == mailbox.pk), None)
        if own is None or own.organizer_email == mailbox.address:
            raise SandboxError("not_found", "No invitation with this iCalUID for this calendar")
        now = timezone.now()
        for event in events:
            if event.status == CalendarEvent.Status.CANCELLED and event.pk != own.pk:
                continue
            answered = False
            for attendee in event.attendees:
                if str(attendee.get("email", "")).lower() == mailbox.address:
                    attendee["responseStatus"] = response
                    answered = True
            if answered:
                event.updated_at = now
                event.changed_seq = _calendar_change(event.mailbox)
                event.save(update_fields=["attendees", "updated_at", "changed_seq"])
    own.refresh_from_db()
    return own
