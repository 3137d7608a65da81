"""The user's contacts through Google's People API v1 (google-api-python-client, built
from the shipped people.v1.json on the shared Google plumbing of google_api.py).

Saved contacts come from `people.searchContacts`, the people the user exchanged mail with
from `otherContacts.search`, each needing its own scope (contacts.readonly,
contacts.other.readonly). Google answers searches from a per-user cache that "clients
should" refresh with an empty-query request before searching (`warm_up`).
"""

from typing import Any

from googleapiclient.http import HttpRequest

from mailsync.providers.base import (
    SOURCE_CONTACTS,
    SOURCE_OTHER_CONTACTS,
    ContactsSession,
    ContactSuggestion,
    TokenStore,
)
from mailsync.providers.google_api import GoogleClient, translate

# What a suggestion shows: names, addresses and (saved contacts only) job title and
# company. otherContacts.search refuses organizations in its read mask.
READ_MASK_CONTACTS = "names,emailAddresses,organizations"
READ_MASK_OTHER_CONTACTS = "names,emailAddresses"
# Partial responses: without them each value carries its metadata (source ids, etags).
FIELDS_CONTACTS = "results/person(names/displayName,emailAddresses/value,organizations(name,title))"
FIELDS_OTHER_CONTACTS = "results/person(names/displayName,emailAddresses/value)"
# The warm-up reads nothing back but must name a read mask.
FIELDS_WARM_UP = "results/person/names/displayName"
SEARCH_PAGE_MAX = 30  # Google's cap on searchContacts' pageSize


def _suggestion(person: dict[str, Any], source: str) -> ContactSuggestion | None:
    emails = tuple(
        dict.fromkeys(
            str(e.get("value", "")).strip().lower()
            for e in person.get("emailAddresses", [])
            if "@" in str(e.get("value", ""))
        )
    )
    if not emails:
        return None  # nobody to write to or to add as a candidate
    names = person.get("names") or [{}]
    organization = (person.get("organizations") or [{}])[0]
    return ContactSuggestion(
        name=str(names[0].get("displayName", "")).strip(),
        emails=emails,
        source=source,
        job_title=str(organization.get("title", "")).strip(),
        company=str(organization.get("name", "")).strip(),
    )


class PeopleSession(ContactsSession):
    def __init__(self, stored: dict[str, Any], *, store: TokenStore | None) -> None:
        self._google = GoogleClient("people.v1.json", stored, store=store)
        self._people = self._google.service.people()
        self._other_contacts = self._google.service.otherContacts()

    def _execute_once(self, request: HttpRequest) -> dict[str, Any]:
        """One attempt, no retry: a person is waiting, and their next keystroke asks again."""
        result: dict[str, Any] = translate(request.execute)
        self._google.persist_refresh()
        return result

    def warm_up(self) -> None:
        self._execute_once(
            self._people.searchContacts(query="", readMask="names", fields=FIELDS_WARM_UP)
        )
        self._execute_once(
            self._other_contacts.search(query="", readMask="names", fields=FIELDS_WARM_UP)
        )

    def search(self, text: str, *, limit: int) -> list[ContactSuggestion]:
        """Saved contacts first, then other contacts."""
        size = max(1, min(limit, SEARCH_PAGE_MAX))
        saved = self._execute_once(
            self._people.searchContacts(
                query=text, readMask=READ_MASK_CONTACTS, pageSize=size, fields=FIELDS_CONTACTS
            )
        )
        others = self._execute_once(
            self._other_contacts.search(
                query=text,
                readMask=READ_MASK_OTHER_CONTACTS,
                pageSize=size,
                fields=FIELDS_OTHER_CONTACTS,
            )
        )
        found = [
            _suggestion(result.get("person", {}), source)
            for answer, source in ((saved, SOURCE_CONTACTS), (others, SOURCE_OTHER_CONTACTS))
            for result in answer.get("results", [])
        ]
        return [suggestion for suggestion in found if suggestion is not None]
