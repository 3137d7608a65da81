"""A sandbox user's address book: adding contacts, and the reads both provider faces share
(Google's People API search and lists, Graph's /me/contacts and /me/people).

Google's contact search runs on a per-user cache that a client refreshes with a warm-up
request (an empty query): the People API reference says "Before searching, clients should
send a warmup request with an empty query to update the cache". The sandbox holds that
cache as the moment of the last warm-up of each (mailbox, source): a search sees the
contacts last changed before it, so a contact added or changed since the last warm-up is
not found until the client warms up again, and a mailbox never warmed up finds nothing.
Like the quota windows (sandbox/quota.py) the moments live in the serving process's
memory: a restarted sandbox has a cold cache, as a client must expect of Google's.
"""

import re
import secrets
import threading
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from sandbox import ids
from sandbox.models import Contact, Mailbox, Message, Provider
from sandbox.services import SandboxError

# Word boundaries for prefix matching: a query matches where a word of a field starts.
_WORD_BREAK = re.compile(r"[^\w]+", re.UNICODE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_warm_lock = threading.Lock()
_warmed_at: dict[tuple[int, str], datetime] = {}


# --- Writes ------------------------------------------------------------------------------


def _new_provider_id(mailbox: Mailbox) -> str:
    if mailbox.provider == Provider.MICROSOFT:
        # Exchange contact ids are long base64 strings like its message ids.
        return ids.graph_rest_id()
    # Google's person ids: "c" and a decimal number (people/c1234…, otherContacts/c1234…).
    return f"c{secrets.randbits(62)}"


def contact_add(
    *,
    mailbox: Mailbox,
    display_name: str,
    emails: Iterable[str],
    job_title: str = "",
    company: str = "",
    kind: str = Contact.Kind.CONTACT,
    phones: Iterable[str] = (),
) -> Contact:
    """Add a person to a sandbox user's address book: a saved contact, or an "other
    contact" (someone the user wrote to, which Google keeps apart and Microsoft counts
    among the relevant people)."""
    addresses = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
    display_name = " ".join(display_name.split())
    if kind not in Contact.Kind.values:
        raise SandboxError("invalid", f"Unknown contact kind: {kind}")
    if not display_name and not addresses:
        raise SandboxError("invalid", "A contact needs a name or an email address.")
    for address in addresses:
        if not _EMAIL.match(address):
            raise SandboxError("invalid", f"Not an email address: {address}")
    given, _, family = display_name.partition(" ")  # "Ann Lee" → Ann, Lee
    with transaction.atomic():
        return Contact.objects.create(
            mailbox=mailbox,
            provider_id=_new_provider_id(mailbox),
            kind=kind,
            display_name=display_name,
            given_name=given,
            family_name=family,
            emails=addresses,
            phones=[p.strip() for p in phones if p.strip()],
            job_title=job_title.strip(),
            company=company.strip(),
        )


# --- Google's search cache ---------------------------------------------------------------


def search_warm_up(*, mailbox: Mailbox, kind: str) -> None:
    """Refresh the search cache of one source (saved contacts or other contacts)."""
    with _warm_lock:
        _warmed_at[(mailbox.pk, kind)] = timezone.now()


def search_cache_reset() -> None:
    """Forget every warm-up (tests; a restarted sandbox starts cold anyway)."""
    with _warm_lock:
        _warmed_at.clear()


def _cached(mailbox: Mailbox, kind: str) -> QuerySet[Contact]:
    with _warm_lock:
        warmed = _warmed_at.get((mailbox.pk, kind))
    if warmed is None:
        return Contact.objects.none()
    return Contact.objects.filter(mailbox=mailbox, kind=kind, updated_at__lte=warmed)


# --- Matching ----------------------------------------------------------------------------


def _normalize(text: str) -> str:
    return " ".join(_WORD_BREAK.sub(" ", text.lower()).split())


def prefix_matches(query: str, values: Iterable[str]) -> bool:
    """Google's documented rule: the query matches prefix phrases of a field, so "foo name"
    is found by "f", "foo n" and "nam" but not by "oo n". Punctuation counts as a word
    break, so an address is found by its start, its domain, or a word of it."""
    wanted = _normalize(query)
    if not wanted:
        return False
    for value in values:
        words = _normalize(value)
        if not words:
            continue
        if _starts_a_word(words, wanted):
            return True
        # An address as typed, "ann@ex", is a prefix of the address itself.
        if value.lower().startswith(query.strip().lower()):
            return True
    return False


def _starts_a_word(words: str, wanted: str) -> bool:
    return any(words[at:].startswith(wanted) for at in _word_starts(words))


def _word_starts(words: str) -> list[int]:
    return [0] + [i + 1 for i, char in enumerate(words) if char == " "]


def _google_fields(contact: Contact) -> list[str]:
    # searchContacts: names, nickNames, emailAddresses, phoneNumbers, organizations;
    # otherContacts.search: names, emailAddresses, phoneNumbers.
    values = [contact.display_name, contact.given_name, contact.family_name]
    values += contact.emails + contact.phones
    if contact.kind == Contact.Kind.CONTACT:
        values += [contact.company, contact.job_title]
    return values


def google_search(*, mailbox: Mailbox, kind: str, query: str, limit: int) -> list[Contact]:
    """The people a Google search of one source finds, from the warmed-up cache."""
    found = [c for c in _cached(mailbox, kind) if prefix_matches(query, _google_fields(c))]
    return found[:limit]


def contacts_of(*, mailbox: Mailbox, kind: str) -> QuerySet[Contact]:
    return Contact.objects.filter(mailbox=mailbox, kind=kind).order_by("display_name", "pk")


# --- Microsoft's relevant people ---------------------------------------------------------


def relevance_scores(*, mailbox: Mailbox, addresses: Iterable[str]) -> dict[str, float]:
    """How relevant each address is to the mailbox's owner: the messages exchanged with
    it (Graph ranks people by communication patterns; the sandbox counts mail)."""
    scores: dict[str, float] = {}
    for address in set(addresses):
        wrapped = f" {address} "
        counted = Message.objects.filter(mailbox=mailbox).aggregate(
            n=Count(
                "pk",
                filter=Q(from_addr__iexact=address)
                | Q(to_addrs__contains=wrapped)
                | Q(cc_addrs__contains=wrapped),
            )
        )
        scores[address] = float(counted["n"])
    return scores


def relevant_people(*, mailbox: Mailbox, search: str) -> list[tuple[Contact, dict[str, float]]]:
    """Saved and other contacts as Graph's relevant people, most relevant first, each with
    the relevance of each of its addresses. A saved contact counts as one more exchange
    (the user chose to keep them), so it outranks an equally frequent stranger."""
    people = list(Contact.objects.filter(mailbox=mailbox))
    if search:
        people = [
            c
            for c in people
            if prefix_matches(search, [c.display_name, c.given_name, c.family_name, *c.emails])
        ]
    scores = relevance_scores(mailbox=mailbox, addresses=[a for c in people for a in c.emails])
    ranked = []
    for contact in people:
        bonus = 1.0 if contact.kind == Contact.Kind.CONTACT else 0.0
        per_address = {a: scores.get(a, 0.0) + bonus for a in contact.emails}
        ranked.append((contact, per_address))
    ranked.sort(
        key=lambda pair: (-max(pair[1].values(), default=0.0), pair[0].display_name.lower())
    )
    return ranked
