"""Microsoft Graph v1.0 contacts and people (registered with `api.route`).

GET /me/contacts: the user's saved contacts, with $select, $top/$skip paging and the
$filter Graph documents for them: comparisons and startswith() on a contact's plain
string properties, and `emailAddresses/any(a:a/address eq '…')`, the one lambda Graph
allows there ("you can use $filter, any, and the eq operator on only the address
sub-property"). Graph does not search contacts, so $search is refused.

GET /me/people: relevant people (saved and other contacts alike), most relevant first,
with $search (prefix matching on names and addresses), $top/$skip and $select.
"""

import re
from collections.abc import Callable

from django.db.models import QuerySet

from sandbox import contacts
from sandbox.microsoft import errors
from sandbox.microsoft.api import Call, GraphResponse, int_param, route
from sandbox.models import Contact

DEFAULT_TOP, CONTACTS_MAX_TOP, PEOPLE_MAX_TOP = 10, 1000, 1000
STRING_PROPERTIES = {
    "displayname": "display_name",
    "givenname": "given_name",
    "surname": "family_name",
    "companyname": "company",
    "jobtitle": "job_title",
}
CONTACT_PROPERTIES = [
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
    "parentFolderId", "birthday", "fileAs", "displayName", "givenName", "initials",
    "middleName", "nickName", "surname", "title", "yomiGivenName", "yomiSurname",
    "yomiCompanyName", "generation", "imAddresses", "jobTitle", "companyName", "department",
    "officeLocation", "profession", "businessHomePage", "assistantName", "manager",
    "homePhones", "mobilePhone", "businessPhones", "spouseName", "personalNotes", "children",
    "emailAddresses", "homeAddress", "businessAddress", "otherAddress",
]  # fmt: skip
PERSON_PROPERTIES = [
    "id", "displayName", "givenName", "surname", "birthday", "personNotes", "isFavorite",
    "jobTitle", "companyName", "yomiCompany", "department", "officeLocation", "profession",
    "userPrincipalName", "imAddress", "scoredEmailAddresses", "phones", "postalAddresses",
    "websites", "personType",
]  # fmt: skip

_STARTSWITH = re.compile(r"^startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)$", re.IGNORECASE)
_COMPARE = re.compile(r"^(\w+)\s+(eq|ne)\s+'((?:[^']|'')*)'$", re.IGNORECASE)
_ANY_ADDRESS = re.compile(
    r"^emailAddresses/any\(\s*(\w+)\s*:\s*(\w+)/address\s+eq\s+'((?:[^']|'')*)'\s*\)$",
    re.IGNORECASE,
)
_JOIN = re.compile(r"\s+(and|or)\s+", re.IGNORECASE)

Test = Callable[[Contact], bool]


def _invalid_filter() -> errors.GraphError:
    return errors.GraphError(
        400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."
    )


def _term(text: str) -> Test:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    found = _STARTSWITH.match(text)
    if found and found.group(1).lower() in STRING_PROPERTIES:
        column, prefix = STRING_PROPERTIES[found.group(1).lower()], found.group(2)
        prefix = prefix.replace("''", "'").lower()
        return lambda c: str(getattr(c, column)).lower().startswith(prefix)
    found = _COMPARE.match(text)
    if found and found.group(1).lower() in STRING_PROPERTIES:
        column, value = STRING_PROPERTIES[found.group(1).lower()], found.group(3)
        value, negate = value.replace("''", "'").lower(), found.group(2).lower() == "ne"
        return lambda c: (str(getattr(c, column)).lower() == value) != negate
    found = _ANY_ADDRESS.match(text)
    if found and found.group(1) == found.group(2):
        address = found.group(3).replace("''", "'").lower()
        return lambda c: address in c.emails
    raise _invalid_filter()


def parse_contact_filter(text: str) -> Test:
    """A contact filter of terms joined by `and`/`or` (`and` binding tighter)."""
    parts = _JOIN.split(text.strip())
    if not parts or not parts[0]:
        raise _invalid_filter()
    any_of: list[list[Test]] = [[_term(parts[0])]]
    for joiner, term in zip(parts[1::2], parts[2::2], strict=True):
        if joiner.lower() == "or":
            any_of.append([])
        any_of[-1].append(_term(term))
    return lambda c: any(all(test(c) for test in group) for group in any_of)


def _select(call: Call, known: list[str]) -> list[str] | None:
    raw = call.query.get("$select", "")
    if not raw:
        call.log_format = "full"
        return None
    by_lower = {name.lower(): name for name in known}
    chosen = []
    for name in (n.strip() for n in raw.split(",") if n.strip()):
        if name.lower() not in by_lower:
            raise errors.bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph."
                f"{'contact' if 'emailAddresses' in known else 'person'}'.",
                code="RequestBroker--ParseUri",
            )
        chosen.append(by_lower[name.lower()])
    call.log_format = "select"
    return chosen


def _selected(resource: dict, select: list[str] | None) -> dict:
    if select is None:
        return resource
    # Graph always returns the id (and the etag) whatever $select names.
    keep = {"id", "@odata.etag", *select}
    return {key: value for key, value in resource.items() if key in keep}


def _iso(contact: Contact, field: str) -> str:
    return getattr(contact, field).strftime("%Y-%m-%dT%H:%M:%SZ")


def contact_resource(contact: Contact) -> dict:
    change_key = contacts_change_key(contact)
    return {
        "@odata.etag": f'W/"{change_key}"',
        "id": contact.provider_id,
        "createdDateTime": _iso(contact, "created_at"),
        "lastModifiedDateTime": _iso(contact, "updated_at"),
        "changeKey": change_key,
        "categories": [],
        "parentFolderId": "AAMkAContacts",
        "birthday": None,
        "fileAs": "",
        "displayName": contact.display_name,
        "givenName": contact.given_name or None,
        "initials": None,
        "middleName": None,
        "nickName": None,
        "surname": contact.family_name or None,
        "title": None,
        "yomiGivenName": None,
        "yomiSurname": None,
        "yomiCompanyName": None,
        "generation": None,
        "imAddresses": [],
        "jobTitle": contact.job_title or None,
        "companyName": contact.company or None,
        "department": None,
        "officeLocation": None,
        "profession": None,
        "businessHomePage": None,
        "assistantName": None,
        "manager": None,
        "homePhones": [],
        "mobilePhone": contact.phones[0] if contact.phones else None,
        "businessPhones": contact.phones[1:],
        "spouseName": None,
        "personalNotes": "",
        "children": [],
        "emailAddresses": [
            {"name": contact.display_name or address, "address": address}
            for address in contact.emails
        ],
        "homeAddress": {},
        "businessAddress": {},
        "otherAddress": {},
    }


def contacts_change_key(contact: Contact) -> str:
    return f"EQAAABYAAAA{int(contact.updated_at.timestamp() * 1000) % 10**10:010d}"


def person_resource(contact: Contact, scores: dict[str, float]) -> dict:
    subclass = "PersonalContact" if contact.kind == Contact.Kind.CONTACT else "ImplicitContact"
    return {
        "id": contact.provider_id,
        "displayName": contact.display_name or (contact.emails[0] if contact.emails else ""),
        "givenName": contact.given_name or None,
        "surname": contact.family_name or None,
        "birthday": "",
        "personNotes": "",
        "isFavorite": False,
        "jobTitle": contact.job_title or None,
        "companyName": contact.company or None,
        "yomiCompany": "",
        "department": None,
        "officeLocation": None,
        "profession": "",
        "userPrincipalName": "",
        "imAddress": None,
        "scoredEmailAddresses": [
            {
                "address": address,
                "relevanceScore": scores.get(address, 0.0),
                "selectionLikelihood": "notSpecified",
            }
            for address in contact.emails
        ],
        "phones": [{"type": "mobile", "number": phone} for phone in contact.phones],
        "postalAddresses": [],
        "websites": [],
        "personType": {"class": "Person", "subclass": subclass},
    }


def _page(call: Call, total: int, top: int, skip: int, payload: dict) -> dict:
    if skip + top < total:
        following = call.query.copy()
        following["$top"], following["$skip"] = str(top), str(skip + top)
        path = call.request.path.split("?", 1)[0]
        payload["@odata.nextLink"] = f"{call.request.root_url}/{path}?{following.urlencode()}"
    return payload


@route("GET", "me/contacts", "graph.contacts.list")
def contacts_list(call: Call) -> GraphResponse:
    if call.query.get("$search"):
        raise errors.unsupported_query("The query parameter '$search' is not supported.")
    select = _select(call, CONTACT_PROPERTIES)
    found: QuerySet[Contact] | list[Contact] = contacts.contacts_of(
        mailbox=call.mailbox, kind=Contact.Kind.CONTACT
    )
    if call.query.get("$filter"):
        test = parse_contact_filter(str(call.query["$filter"]))
        found = [contact for contact in found if test(contact)]
    rows = list(found)
    top = min(max(int_param(call, "$top", DEFAULT_TOP), 1), CONTACTS_MAX_TOP)
    skip = int_param(call, "$skip", 0)
    payload: dict = {
        "@odata.context": f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')"
        "/contacts" + (f"({','.join(select)})" if select else ""),
        "value": [_selected(contact_resource(c), select) for c in rows[skip : skip + top]],
    }
    return GraphResponse(200, _page(call, len(rows), top, skip, payload))


def _search_text(call: Call) -> str:
    raw = call.query.get("$search", "").strip()
    # Graph takes the people search in double quotes: $search="ann".
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return raw.strip()


@route("GET", "me/people", "graph.people.list")
def people_list(call: Call) -> GraphResponse:
    select = _select(call, PERSON_PROPERTIES)
    ranked = contacts.relevant_people(mailbox=call.mailbox, search=_search_text(call))
    top = min(max(int_param(call, "$top", DEFAULT_TOP), 1), PEOPLE_MAX_TOP)
    skip = int_param(call, "$skip", 0)
    payload: dict = {
        "@odata.context": f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')"
        "/people",
        "value": [
            _selected(person_resource(contact, scores), select)
            for contact, scores in ranked[skip : skip + top]
        ],
    }
    return GraphResponse(200, _page(call, len(ranked), top, skip, payload))
