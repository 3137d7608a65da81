"""Writes to sandbox mailboxes: create, insert (with threading and history), send and deliver,
labels, history retention and fault injection. Provider-neutral; the Google module maps
`SandboxError` to Gmail's error bodies."""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from sandbox import mime, quota
from sandbox.models import HistoryEvent, Label, Mailbox, Message, Provider

# Gmail's system labels. A Graph emulation maps the first few to well-known folders.
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
# Labels a client may not put on a message by hand.
UNASSIGNABLE_LABELS = {"DRAFT", "SENT", "CHAT"}
INBOX_LABELS = ("INBOX", "UNREAD")


class SandboxError(Exception):
    """A request the sandbox refuses. `kind` is one of: invalid, not_found, conflict."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Fault:
    status: int | None
    delay: float


def wrap_labels(labels: Iterable[str]) -> str:
    unique = list(dict.fromkeys(labels))
    return " " + " ".join(unique) + " " if unique else " "


def wrap_addresses(addresses: Iterable[str]) -> str:
    return wrap_labels(a.lower() for a in addresses)


def new_message_id(internal_date_ms: int) -> str:
    # Gmail ids are 16 hex digits that grow with time; a random tail keeps them unique.
    return f"{internal_date_ms & 0xFFFFFFFFFFF:011x}{secrets.randbits(20):05x}"


# --- Mailboxes ---------------------------------------------------------------------------


def mailbox_create(
    *, address: str, provider: str = Provider.GOOGLE, display_name: str = ""
) -> Mailbox:
    address = address.strip().lower()
    if not address or "@" not in address:
        raise SandboxError("invalid", f"Not an email address: {address!r}")
    if Mailbox.objects.filter(address=address).exists():
        raise SandboxError("conflict", f"Mailbox {address} already exists")
    with transaction.atomic():
        mailbox = Mailbox.objects.create(
            address=address, provider=provider, display_name=display_name
        )
        Label.objects.bulk_create(
            Label(mailbox=mailbox, provider_id=name, name=name, kind=Label.Kind.SYSTEM)
            for name in SYSTEM_LABELS
        )
    # Primary keys can come back after a test database flush: start with a clean window.
    quota.forget(mailbox.pk)
    return mailbox


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


def message_insert(
    *,
    mailbox: Mailbox,
    raw: bytes,
    labels: Iterable[str],
    internal_date: int | None = None,
    requested_thread_id: str = "",
    parsed: mime.ParsedMessage | None = None,
) -> Message:
    parsed = parsed or mime.parse(raw)
    internal_date = internal_date or mime.epoch_ms()
    label_ids = wrap_labels(labels)
    with transaction.atomic():
        history_id = history_ids_allocate(mailbox, 1)
        provider_id = new_message_id(internal_date)
        thread_id = thread_resolve(
            mailbox=mailbox, parsed=parsed, requested_thread_id=requested_thread_id
        )
        message = Message.objects.create(
            mailbox=mailbox,
            provider_id=provider_id,
            thread_id=thread_id or provider_id,
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
            message_label_ids=label_ids,
        )
    return message


def message_deliver(
    *, mailbox: Mailbox, raw: bytes, labels: Iterable[str] = INBOX_LABELS
) -> Message:
    """Inbound mail from outside the sandbox (the `deliver` command, a test)."""
    return message_insert(mailbox=mailbox, raw=raw, labels=labels)


def message_send(*, mailbox: Mailbox, raw: bytes, thread_id: str = "") -> Message:
    """Submit a message as `mailbox`: keep a copy labelled SENT and deliver one (without
    Bcc) to every recipient that is a sandbox mailbox. Returns the sender's copy."""
    raw = mime.prepare_outgoing(raw, sender=mailbox.address, sender_name=mailbox.display_name)
    parsed = mime.parse(raw)
    recipients = parsed.recipients
    if not recipients:
        raise SandboxError("invalid", "Recipient address required")
    sent_labels = ["SENT"]
    if mailbox.address in recipients:
        sent_labels += list(INBOX_LABELS)
    now = mime.epoch_ms()
    with transaction.atomic():
        sent = message_insert(
            mailbox=mailbox,
            raw=raw,
            labels=sent_labels,
            internal_date=now,
            requested_thread_id=thread_id,
            parsed=parsed,
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
    return sent


def message_modify_labels(
    *, message: Message, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> Message:
    add, remove = list(dict.fromkeys(add)), list(dict.fromkeys(remove))
    known = set(
        Label.objects.filter(mailbox_id=message.mailbox_id).values_list("provider_id", flat=True)
    )
    for label_id in [*add, *remove]:
        if label_id not in known or (label_id in UNASSIGNABLE_LABELS and label_id in add):
            raise SandboxError("invalid", f"Invalid label: {label_id}")
    current = message.labels
    added = [label for label in add if label not in current and label not in remove]
    removed = [label for label in remove if label in current]
    if not added and not removed:
        return message
    new_labels = [label for label in current if label not in removed] + added
    with transaction.atomic():
        first = history_ids_allocate(message.mailbox, (1 if added else 0) + (1 if removed else 0))
        message.label_ids = wrap_labels(new_labels)
        events = []
        for kind, changed in (
            (HistoryEvent.Kind.LABEL_ADDED, added),
            (HistoryEvent.Kind.LABEL_REMOVED, removed),
        ):
            if changed:
                events.append(
                    HistoryEvent(
                        mailbox_id=message.mailbox_id,
                        history_id=first + len(events),
                        kind=kind,
                        message_id=message.provider_id,
                        thread_id=message.thread_id,
                        changed_label_ids=" ".join(changed),
                        message_label_ids=message.label_ids,
                    )
                )
        HistoryEvent.objects.bulk_create(events)
        message.history_id = events[-1].history_id
        message.save(update_fields=["label_ids", "history_id"])
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


def fault_set(
    *, mailbox: Mailbox, count: int, status: int | None = None, delay: float = 0
) -> Mailbox:
    if status is not None and status not in (429, 500, 503):
        raise SandboxError("invalid", "Fault status must be 429, 500 or 503")
    mailbox.fault_status = status
    mailbox.fault_delay = delay
    mailbox.fault_remaining = max(count, 0)
    mailbox.save(update_fields=["fault_status", "fault_delay", "fault_remaining"])
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
    return Fault(status=mailbox.fault_status, delay=mailbox.fault_delay)


def quota_set(*, mailbox: Mailbox, per_minute: int | None) -> Mailbox:
    mailbox.quota_per_minute = per_minute
    mailbox.save(update_fields=["quota_per_minute"])
    quota.forget(mailbox.pk)
    return mailbox
