"""Bulk noise mail for a mailbox: newsletters, colleagues and candidate conversations that
nothing in Threadline started. Built straight from templates (no MIME library) and written
with bulk_create, so 100,000 messages take seconds; used by the sync benchmark."""

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate

from django.db import transaction

from sandbox import ids
from sandbox.mime import make_snippet, normalize_subject
from sandbox.models import HistoryEvent, Mailbox, Message, Provider
from sandbox.services import (
    history_ids_allocate,
    new_provider_id,
    new_thread_id,
    wrap_addresses,
    wrap_labels,
)

BATCH = 2000
YEAR_MS = 365 * 24 * 3600 * 1000

FIRST = [
    "Ada",
    "Bo",
    "Chen",
    "Dara",
    "Eli",
    "Farah",
    "Goran",
    "Hana",
    "Ines",
    "Jon",
    "Kemi",
    "Luca",
    "Maya",
    "Nils",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tove",
    "Uma",
    "Vik",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Fischer",
    "Ibrahim",
    "Larsen",
    "Costa",
    "Nguyen",
    "Rossi",
    "Petrov",
    "Walsh",
]
NEWSLETTERS = [
    (
        "Product Weekly",
        "news@updates.example.com",
        "CATEGORY_UPDATES",
        "Product Weekly #{n}: what shipped",
    ),
    (
        "Talent Digest",
        "digest@talent.example.org",
        "CATEGORY_PROMOTIONS",
        "Talent Digest: {n} roles you might like",
    ),
    (
        "Conference Team",
        "hello@events.example.net",
        "CATEGORY_PROMOTIONS",
        "Early-bird tickets end in {n} days",
    ),
    ("Billing", "billing@saas.example.com", "CATEGORY_UPDATES", "Your invoice INV-{n} is ready"),
]
COLLEAGUE_SUBJECTS = [
    "Lunch on Friday?",
    "Q{n} planning notes",
    "Offsite agenda",
    "Interview panel for next week",
    "Expense report {n}",
    "Team retro",
]
CANDIDATE_SUBJECTS = [
    "Application for the {role} role",
    "Following up on our call",
    "Availability for an interview",
    "Portfolio and references",
    "Question about the {role} position",
]
ROLES = [
    "Backend Engineer",
    "Product Designer",
    "Data Analyst",
    "Account Executive",
    "Support Lead",
    "Engineering Manager",
]
BODIES = [
    "Hi,\r\n\r\nJust following up on this. Let me know what you think.\r\n\r\nBest,\r\n{name}",
    "Hello,\r\n\r\nPlease find the details below. Happy to talk any time this week.\r\n\r\n{name}",
    "Thanks for the update! I will get back to you by Thursday.\r\n\r\nCheers,\r\n{name}",
    "Hi there,\r\n\r\nHere is this week's summary. Read more on our site.\r\n\r\n-- {name}",
]


@dataclass
class _Draft:
    from_name: str
    from_addr: str
    to_addr: str
    subject: str
    body: str
    labels: list[str]
    date_ms: int
    thread_key: int
    reply_to: str = ""
    references: str = ""
    msgid: str = ""


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first}.{last}{rng.randint(1, 999)}@{domain}".lower()


def _drafts(rng: random.Random, mailbox: Mailbox, count: int) -> Iterator[_Draft]:
    """Yield `count` drafts: single newsletters and colleague notes, and candidate threads
    of two to five messages alternating between the candidate and the mailbox owner."""
    owner = mailbox.address
    owner_name = mailbox.display_name or owner.split("@")[0]
    own_domain = owner.rsplit("@", 1)[-1]
    now_ms = int(time.time() * 1000)
    produced, thread_key = 0, 0
    while produced < count:
        thread_key += 1
        kind = rng.random()
        start = now_ms - rng.randrange(YEAR_MS)
        unread = ["UNREAD"] if rng.random() < 0.3 else []
        if kind < 0.4:
            name, addr, category, subject = rng.choice(NEWSLETTERS)
            yield _Draft(
                name,
                addr,
                owner,
                subject.format(n=rng.randint(1, 500)),
                rng.choice(BODIES).format(name=name),
                ["INBOX", category, *unread],
                start,
                thread_key,
            )
            produced += 1
            continue
        if kind < 0.65:
            name, addr = _person(rng, own_domain)
            subject = rng.choice(COLLEAGUE_SUBJECTS).format(n=rng.randint(1, 4))
            yield _Draft(
                name,
                addr,
                owner,
                subject,
                rng.choice(BODIES).format(name=name),
                ["INBOX", "CATEGORY_PERSONAL", *unread],
                start,
                thread_key,
            )
            produced += 1
            continue
        name, addr = _person(rng, rng.choice(["mail.example.net", "post.example.org"]))
        subject = rng.choice(CANDIDATE_SUBJECTS).format(role=rng.choice(ROLES))
        length = min(rng.randint(2, 5), count - produced)
        date = start
        for position in range(length):
            from_candidate = position % 2 == 0
            yield _Draft(
                name if from_candidate else owner_name,
                addr if from_candidate else owner,
                owner if from_candidate else addr,
                subject if position == 0 else f"Re: {subject}",
                rng.choice(BODIES).format(name=name if from_candidate else owner_name),
                ["INBOX", *unread] if from_candidate else ["SENT"],
                date,
                thread_key,
            )
            date += rng.randint(10, 3 * 24 * 60) * 60_000
            produced += 1


def _raw(draft: _Draft) -> tuple[bytes, list[list[str]]]:
    headers = [
        ["From", f"{draft.from_name} <{draft.from_addr}>"],
        ["To", draft.to_addr],
        ["Subject", draft.subject],
        ["Date", formatdate(draft.date_ms / 1000, usegmt=True)],
        ["Message-ID", f"<{draft.msgid}>"],
    ]
    if draft.reply_to:
        headers += [["In-Reply-To", f"<{draft.reply_to}>"], ["References", draft.references]]
    headers += [
        ["MIME-Version", "1.0"],
        ["Content-Type", 'text/plain; charset="utf-8"'],
        ["Content-Transfer-Encoding", "7bit"],
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"{head}\r\n{draft.body}\r\n".encode(), headers


def mailbox_fill(*, mailbox: Mailbox, count: int, seed: int | None = None) -> int:
    """Insert `count` noise messages (with their messageAdded history). Returns the count."""
    rng = random.Random(seed)  # noqa: S311 (reproducible noise mail, not a secret)
    drafts = list(_drafts(rng, mailbox, count))
    threads: dict[int, tuple[str, str, str]] = {}  # key -> (thread id, last msgid, references)
    microsoft = mailbox.provider == Provider.MICROSOFT
    # A Microsoft mailbox has folders, not Gmail's category labels: keep the ones it has.
    known_labels = set(mailbox.labels.values_list("provider_id", flat=True))
    with transaction.atomic():
        first_history = history_ids_allocate(mailbox, len(drafts))
        for start in range(0, len(drafts), BATCH):
            messages, events = [], []
            for offset, draft in enumerate(drafts[start : start + BATCH]):
                history_id = first_history + start + offset
                provider_id = new_provider_id(mailbox, draft.date_ms)
                draft.msgid = (
                    f"{rng.getrandbits(64):016x}.{rng.getrandbits(32):08x}"
                    f"@{draft.from_addr.split('@')[1]}"
                )
                known = threads.get(draft.thread_key)
                if known:
                    thread_id, draft.reply_to, previous = known
                    draft.references = f"{previous} <{draft.reply_to}>".strip()
                else:
                    thread_id = new_thread_id(mailbox, provider_id)
                threads[draft.thread_key] = (thread_id, draft.msgid, draft.references)
                raw, headers = _raw(draft)
                labels = wrap_labels(label for label in draft.labels if label in known_labels)
                immutable_id = ids.graph_immutable_id() if microsoft else ""
                messages.append(
                    Message(
                        mailbox=mailbox,
                        provider_id=provider_id,
                        thread_id=thread_id,
                        immutable_id=immutable_id,
                        raw=raw,
                        rfc822_msgid=draft.msgid,
                        subject=draft.subject,
                        subject_normalized=normalize_subject(draft.subject),
                        from_addr=draft.from_addr,
                        from_name=draft.from_name,
                        to_addrs=wrap_addresses([draft.to_addr]),
                        headers=headers,
                        snippet=make_snippet(draft.body),
                        label_ids=labels,
                        internal_date=draft.date_ms,
                        size=len(raw),
                        history_id=history_id,
                    )
                )
                events.append(
                    HistoryEvent(
                        mailbox=mailbox,
                        history_id=history_id,
                        kind=HistoryEvent.Kind.MESSAGE_ADDED,
                        message_id=provider_id,
                        thread_id=thread_id,
                        immutable_id=immutable_id,
                        message_label_ids=labels,
                    )
                )
            Message.objects.bulk_create(messages)
            HistoryEvent.objects.bulk_create(events)
    return len(drafts)
