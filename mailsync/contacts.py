"""Suggestions where a user types a person: candidates they may see, and (when the
mailbox policy allows Contacts) people from their own contacts and other contacts,
searched at the provider.

Nothing from contacts is written to the database: a suggestion lives in the page, and in
the cache for a minute (per user and text, so that typing back and forth does not ask the
provider again). It becomes data only when the user picks it and saves a form.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from uuid import UUID

from django.core.cache import cache

from accounts.models import IntegrationPermission, User
from candidates import selectors as candidates_selectors
from mailsync.models import MailboxConnection
from mailsync.policy import feature_status
from mailsync.providers.base import (
    SOURCE_CONTACTS,
    SOURCE_OTHER_CONTACTS,
    ContactSuggestion,
    ProviderError,
)
from mailsync.selectors import mailbox_for
from mailsync.tokens import mark_needs_reauthorization, open_contacts

logger = logging.getLogger(__name__)
SUGGESTIONS_LIMIT = 10
# Fewer letters than this would match half the address book: the provider is not asked.
MIN_TEXT_LENGTH = 2
CACHE_SECONDS = 60
# Google answers searches from a cache its clients refresh with an empty query; once a
# minute per connection keeps a contact saved meanwhile findable without doubling calls.
WARM_UP_SECONDS = 60
SOURCE_CANDIDATE = "candidate"
SOURCE_LABELS = {
    SOURCE_CANDIDATE: "Candidate",
    SOURCE_CONTACTS: "Contact",
    SOURCE_OTHER_CONTACTS: "Other contact",
}
CONTACTS_FAILED = "Your contacts could not be searched just now; candidates are shown."
CONTACTS_NEED_REAUTHORIZATION = (
    "Your contacts could not be searched: your connection needs re-authorization under "
    "Settings › My account."
)


@dataclass(frozen=True)
class PersonSuggestion:
    """One person to pick: a candidate the user may see (`candidate_id`), or someone from
    their contacts, with where they came from (`source`)."""

    source: str
    name: str
    emails: tuple[str, ...]
    headline: str = ""
    candidate_id: UUID | None = None

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS[self.source]

    @property
    def is_candidate(self) -> bool:
        return self.source == SOURCE_CANDIDATE


@dataclass(frozen=True)
class Suggestions:
    people: list[PersonSuggestion] = field(default_factory=list)
    # Why contacts were not searched (for the UI); "" when they were.
    contacts_unavailable: str = ""


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def headline_of(job_title: str, company: str) -> str:
    """ "Staff Engineer at Acme", or whichever of the two is known."""
    if job_title and company:
        return f"{job_title} at {company}"
    return job_title or company


def contact_suggestions(user: User, text: str, *, with_contacts: bool = True) -> Suggestions:
    """Candidates the user may see matching `text` (at most SUGGESTIONS_LIMIT), then as
    many contacts and other contacts matching it who are not those candidates (one entry
    per address, the first source wins). `with_contacts=False`: candidates only, and the
    provider is not asked."""
    text = " ".join(text.split())
    if not text:
        return Suggestions()
    candidates = _candidates(user, text)
    if not with_contacts or len(text) < MIN_TEXT_LENGTH:
        return Suggestions(people=candidates)
    connection = mailbox_for(user=user)
    status = feature_status(user, IntegrationPermission.Kind.CONTACTS, connection)
    if not status.allowed:
        return Suggestions(people=candidates, contacts_unavailable=status.why_not)
    assert connection is not None  # allowed: the policy found a connection with the scopes
    try:
        found = _contacts_cached(connection, text)
    except ProviderError as failure:
        return Suggestions(people=candidates, contacts_unavailable=_refusal(connection, failure))
    return Suggestions(people=_merged(candidates, found))


def _candidates(user: User, text: str) -> list[PersonSuggestion]:
    found = candidates_selectors.candidate_list(user=user, search=text)[:SUGGESTIONS_LIMIT]
    return [
        PersonSuggestion(
            source=SOURCE_CANDIDATE,
            name=candidate.full_name,
            # Primary first, as the profile lists them.
            emails=tuple(
                e.address for e in sorted(candidate.emails.all(), key=lambda e: not e.is_primary)
            ),
            headline=candidate.headline,
            candidate_id=candidate.pk,
        )
        for candidate in found
    ]


def _cache_key(connection: MailboxConnection, text: str) -> str:
    # Per user and connection (a new grant starts afresh); the text hashed, not kept
    # readable in a shared cache.
    digest = hashlib.sha256(normalised(text).encode()).hexdigest()
    return f"contact-suggestions:{connection.user_id}:{connection.pk}:{digest}"


def _contacts_cached(connection: MailboxConnection, text: str) -> list[ContactSuggestion]:
    key = _cache_key(connection, text)
    cached: list[ContactSuggestion] | None = cache.get(key)
    if cached is not None:
        return cached
    session = open_contacts(connection)
    if cache.add(f"contact-warm-up:{connection.pk}", True, WARM_UP_SECONDS):
        session.warm_up()
    found = session.search(text, limit=SUGGESTIONS_LIMIT)
    cache.set(key, found, CACHE_SECONDS)
    return found


def _refusal(connection: MailboxConnection, failure: ProviderError) -> str:
    """What the user reads when the provider refused; a revoked grant is recorded."""
    if failure.permanent and failure.needs_reauthorization:
        mark_needs_reauthorization(connection, failure)
        return CONTACTS_NEED_REAUTHORIZATION
    # The next search warms up again: a failed warm-up must not count.
    cache.delete(f"contact-warm-up:{connection.pk}")
    logger.warning("Mailbox %s: contact search failed: %s", connection.pk, failure)
    return CONTACTS_FAILED


def _merged(
    candidates: list[PersonSuggestion], found: list[ContactSuggestion]
) -> list[PersonSuggestion]:
    people = list(candidates)
    seen = {address for person in candidates for address in person.emails}
    for contact in found:
        emails = tuple(address for address in contact.emails if address not in seen)
        # Someone with an address of a suggested candidate is that candidate.
        if len(emails) < len(contact.emails) or not emails:
            continue
        seen.update(emails)
        people.append(
            PersonSuggestion(
                source=contact.source,
                name=contact.name,
                emails=emails,
                headline=headline_of(contact.job_title, contact.company),
            )
        )
    return people
