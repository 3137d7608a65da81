"""The user's contacts through Microsoft Graph, on the Graph plumbing of graph.py.

Saved contacts: `/me/contacts` (Contacts.Read), which Graph does not search, so a
`$filter` of startswith on the names (and, for a whole address, the one lambda Graph
allows on addresses: `emailAddresses/any(a:a/address eq '…')`). The people the user
works with: `/me/people?$search=` (People.Read), ranked by Graph; those who are not
personal contacts are this provider's "other contacts". `$select` everywhere: only what a
suggestion shows is read.
"""

from typing import Any
from urllib.parse import quote

from mailsync.providers.base import (
    SOURCE_CONTACTS,
    SOURCE_OTHER_CONTACTS,
    ContactsSession,
    ContactSuggestion,
    TokenStore,
)
from mailsync.providers.graph import GraphClient

CONTACTS_SELECT = "displayName,emailAddresses,jobTitle,companyName"
PEOPLE_SELECT = "displayName,scoredEmailAddresses,jobTitle,companyName,personType"
NAME_PROPERTIES = ("displayName", "givenName", "surname")


def _literal(value: str) -> str:
    return value.replace("'", "''")


def contacts_filter(text: str) -> str:
    """Contacts whose name (or one of its words, as given and surname) starts with `text`,
    or who have `text` as an address."""
    terms = [f"startswith({name},'{_literal(text)}')" for name in NAME_PROPERTIES]
    if "@" in text and " " not in text:
        terms.append(f"emailAddresses/any(a:a/address eq '{_literal(text.lower())}')")
    return " or ".join(terms)


def _emails(addresses: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            str(a.get("address") or "").strip().lower()
            for a in addresses
            if "@" in str(a.get("address") or "")
        )
    )


def _contact(item: dict[str, Any]) -> ContactSuggestion | None:
    emails = _emails(item.get("emailAddresses") or [])
    if not emails:
        return None
    return ContactSuggestion(
        name=str(item.get("displayName") or "").strip(),
        emails=emails,
        source=SOURCE_CONTACTS,
        job_title=str(item.get("jobTitle") or "").strip(),
        company=str(item.get("companyName") or "").strip(),
    )


def _person(item: dict[str, Any]) -> ContactSuggestion | None:
    emails = _emails(item.get("scoredEmailAddresses") or [])
    if not emails:
        return None
    subclass = (item.get("personType") or {}).get("subclass", "")
    return ContactSuggestion(
        name=str(item.get("displayName") or "").strip(),
        emails=emails,
        source=SOURCE_CONTACTS if subclass == "PersonalContact" else SOURCE_OTHER_CONTACTS,
        job_title=str(item.get("jobTitle") or "").strip(),
        company=str(item.get("companyName") or "").strip(),
    )


class GraphContactsSession(ContactsSession):
    def __init__(self, credentials: dict[str, Any], *, store: TokenStore | None) -> None:
        self._graph = GraphClient(credentials, store=store)

    def warm_up(self) -> None:
        return None  # Graph searches its current data: there is no cache to refresh

    def search(self, text: str, *, limit: int) -> list[ContactSuggestion]:
        """Saved contacts first, then relevant people. One attempt each (`call_once`): a
        person is waiting, and their next keystroke asks again."""
        contacts = self._graph.call_once(
            "get",
            f"me/contacts?$select={CONTACTS_SELECT}&$top={limit}"
            f"&$filter={quote(contacts_filter(text), safe='')}",
            what="contacts.list",
        ).json()
        search = quote(f'"{text.replace(chr(34), " ")}"', safe="")
        people = self._graph.call_once(
            "get",
            f"me/people?$select={PEOPLE_SELECT}&$top={limit}&$search={search}",
            what="people.list",
        ).json()
        found = [_contact(item) for item in contacts.get("value", [])]
        found += [_person(item) for item in people.get("value", [])]
        return [suggestion for suggestion in found if suggestion is not None]
