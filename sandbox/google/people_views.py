"""People API v1 operations (registered with `api.route`): contact search, other-contact
search and list, and the user's connections. Shapes follow the `people.v1.json` discovery
document google-api-python-client ships; the warm-up cache is in sandbox/contacts.py."""

import hashlib

from sandbox import contacts
from sandbox.google import errors
from sandbox.google.api import Call, route
from sandbox.models import Contact

# Valid readMask / personFields paths (the discovery document's lists).
PERSON_FIELDS = {
    "addresses", "ageRanges", "biographies", "birthdays", "calendarUrls", "clientData",
    "coverPhotos", "emailAddresses", "events", "externalIds", "genders", "imClients",
    "interests", "locales", "locations", "memberships", "metadata", "miscKeywords", "names",
    "nicknames", "occupations", "organizations", "phoneNumbers", "photos", "relations",
    "sipAddresses", "skills", "urls", "userDefined",
}  # fmt: skip
OTHER_CONTACT_FIELDS = {"emailAddresses", "metadata", "names", "phoneNumbers"}
SEARCH_DEFAULT, SEARCH_MAX = 10, 30
LIST_DEFAULT, LIST_MAX = 100, 1000
PATHS_DOC = "https://developers.google.com/people/api/rest/v1/people/get"


def _mask(call: Call, parameter: str, valid: set[str]) -> set[str]:
    """The fields a read mask asks for; Google refuses a missing or unknown path."""
    raw = call.query.get(parameter, "") or call.query.get("requestMask.includeField", "")
    paths = [p.strip() for p in raw.split(",") if p.strip()]
    # "person.names" is accepted as well as "names".
    paths = [p.removeprefix("person.") for p in paths]
    if not paths:
        raise errors.GmailError(
            400,
            f"{parameter} is required. Please specify one or more valid paths. "
            f"Valid paths are documented at {PATHS_DOC}.",
            "badRequest",
        )
    for path in paths:
        if path not in valid:
            raise errors.GmailError(
                400,
                f'Invalid {parameter} path: "{path}". Valid paths are documented at {PATHS_DOC}.',
                "badRequest",
            )
    return set(paths)


def _page_size(call: Call, default: int, maximum: int, *, cap: bool) -> int:
    value = call.query.get("pageSize", "") or "0"
    try:
        size = int(value)
    except ValueError as error:
        raise errors.invalid_argument(
            f"Invalid value at 'page_size' (TYPE_INT32), \"{value}\""
        ) from error
    if size < 0 or (size > maximum and not cap):
        raise errors.invalid_argument(f"Page size must be between 0 and {maximum}.")
    return min(size or default, maximum)


def _source_type(contact: Contact) -> str:
    return "CONTACT" if contact.kind == Contact.Kind.CONTACT else "OTHER_CONTACT"


def _etag(contact: Contact) -> str:
    stamp = f"{contact.provider_id}:{contact.updated_at.isoformat()}"
    return "%" + hashlib.sha256(stamp.encode()).hexdigest()[:24]


def person_resource(contact: Contact, mask: set[str]) -> dict:
    """A Person as Google returns it: resourceName and etag always, then the masked fields,
    each value with its metadata (the first one primary)."""
    source = {"type": _source_type(contact), "id": contact.provider_id.removeprefix("c")}

    def metadata(first: bool) -> dict:
        found: dict = {"source": source}
        if first:
            found = {"primary": True, "sourcePrimary": True, **found}
        return found

    prefix = "people" if contact.kind == Contact.Kind.CONTACT else "otherContacts"
    person: dict = {"resourceName": f"{prefix}/{contact.provider_id}", "etag": _etag(contact)}
    if "metadata" in mask:
        person["metadata"] = {
            "sources": [{**source, "etag": _etag(contact)}],
            "objectType": "PERSON",
        }
    if "names" in mask and contact.display_name:
        name = {
            "metadata": metadata(True),
            "displayName": contact.display_name,
            "unstructuredName": contact.display_name,
        }
        if contact.given_name:
            name["givenName"] = contact.given_name
        if contact.family_name:
            name["familyName"] = contact.family_name
            name["displayNameLastFirst"] = f"{contact.family_name}, {contact.given_name}"
        else:
            name["displayNameLastFirst"] = contact.display_name
        person["names"] = [name]
    if "emailAddresses" in mask and contact.emails:
        person["emailAddresses"] = [
            {"metadata": metadata(i == 0), "value": address}
            for i, address in enumerate(contact.emails)
        ]
    if "phoneNumbers" in mask and contact.phones:
        person["phoneNumbers"] = [
            {"metadata": metadata(i == 0), "value": phone} for i, phone in enumerate(contact.phones)
        ]
    if "organizations" in mask and (contact.company or contact.job_title):
        organization: dict = {"metadata": metadata(True)}
        if contact.company:
            organization["name"] = contact.company
        if contact.job_title:
            organization["title"] = contact.job_title
        person["organizations"] = [organization]
    return person


def _search(call: Call, kind: str, valid: set[str]) -> dict:
    mask = _mask(call, "readMask", valid)
    size = _page_size(call, SEARCH_DEFAULT, SEARCH_MAX, cap=True)
    query = call.query.get("query", "")
    if not query.strip():
        # The warm-up request: it refreshes the cache and finds nobody.
        contacts.search_warm_up(mailbox=call.mailbox, kind=kind)
        return {}
    found = contacts.google_search(mailbox=call.mailbox, kind=kind, query=query, limit=size)
    if not found:
        return {}
    return {"results": [{"person": person_resource(c, mask)} for c in found]}


def _check_sources(call: Call) -> None:
    # The sandbox serves saved contacts only; other sources are other endpoints here.
    for source in call.query.getlist("sources"):
        if source not in ("READ_SOURCE_TYPE_CONTACT", "READ_SOURCE_TYPE_UNSPECIFIED"):
            raise errors.invalid_argument(
                f"The sandbox's searchContacts reads READ_SOURCE_TYPE_CONTACT only, not {source}."
            )


@route("GET", "v1/people:searchContacts", "people.people.searchContacts", precheck=_check_sources)
def search_contacts(call: Call) -> dict:
    return _search(call, Contact.Kind.CONTACT, PERSON_FIELDS)


@route("GET", "v1/otherContacts:search", "people.otherContacts.search")
def search_other_contacts(call: Call) -> dict:
    return _search(call, Contact.Kind.OTHER, OTHER_CONTACT_FIELDS)


def _offset(call: Call) -> int:
    token = call.query.get("pageToken", "")
    if not token:
        return 0
    if not token.isdigit():
        raise errors.invalid_argument("Invalid page token.")
    return int(token)


def _listing(call: Call, kind: str, mask: set[str], key: str) -> dict:
    """One page of a source, under `key`, with the next page's token when there is one."""
    if call.query.get("syncToken") or call.query.get("requestSyncToken", "").lower() == "true":
        raise errors.invalid_argument("The sandbox does not issue People API sync tokens.")
    size = _page_size(call, LIST_DEFAULT, LIST_MAX, cap=False)
    everyone = contacts.contacts_of(mailbox=call.mailbox, kind=kind)
    offset = _offset(call)
    rows = list(everyone[offset : offset + size + 1])
    answer: dict = {}
    if rows[:size]:
        answer[key] = [person_resource(c, mask) for c in rows[:size]]
    if len(rows) > size:
        answer["nextPageToken"] = str(offset + size)
    return answer


@route("GET", "v1/otherContacts", "people.otherContacts.list")
def list_other_contacts(call: Call) -> dict:
    mask = _mask(call, "readMask", OTHER_CONTACT_FIELDS | {"photos"})
    answer = _listing(call, Contact.Kind.OTHER, mask, "otherContacts")
    answer["totalSize"] = contacts.contacts_of(
        mailbox=call.mailbox, kind=Contact.Kind.OTHER
    ).count()
    return answer


def _check_connections(call: Call) -> None:
    if call.params["person"] != "me":
        raise errors.invalid_argument(
            "Must be a valid resource name for the authenticated user (people/me)."
        )


@route(
    "GET",
    "v1/people/{person}/connections",
    "people.people.connections.list",
    precheck=_check_connections,
)
def list_connections(call: Call) -> dict:
    mask = _mask(call, "personFields", PERSON_FIELDS)
    answer = _listing(call, Contact.Kind.CONTACT, mask, "connections")
    total = contacts.contacts_of(mailbox=call.mailbox, kind=Contact.Kind.CONTACT).count()
    answer["totalPeople"] = answer["totalItems"] = total
    return answer
