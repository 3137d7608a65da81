"""Google's partial response: the `fields` query parameter every Gmail method accepts.

The syntax, as Google's "Performance tips" page documents it:

- `a,b` selects several fields; `a/b` selects `b` inside `a` (inside each element when `a`
  is an array); `a(b,c)` selects `b` and `c` inside `a`, and nests (`a(b/c,d(e))`);
- `*` selects every field at its level (accepted as the last step of a path).

A name that the answer's schema does not have, a step below a plain value, or broken
syntax answers 400 "Invalid field selection …". The schemas below are the property names
and nested types of Google's Gmail and People discovery documents (tests compare them), so a
selection is checked against what Google would accept, not against what one answer holds.
"""

import re
from typing import Any, overload

from sandbox.google import errors
from sandbox.google.calendar_schemas import CALENDAR_SCHEMAS

# schema → {property: nested schema, or None for a plain value or a list of them}
SCHEMAS: dict[str, dict[str, str | None]] = {
    "Profile": {
        "emailAddress": None,
        "historyId": None,
        "messagesTotal": None,
        "threadsTotal": None,
    },
    "Message": {
        "classificationLabelValues": "ClassificationLabelValue",
        "historyId": None,
        "id": None,
        "internalDate": None,
        "labelIds": None,
        "payload": "MessagePart",
        "raw": None,
        "sizeEstimate": None,
        "snippet": None,
        "threadId": None,
    },
    "ClassificationLabelValue": {"fields": "ClassificationLabelFieldValue", "labelId": None},
    "ClassificationLabelFieldValue": {"fieldId": None, "selection": None},
    "MessagePart": {
        "body": "MessagePartBody",
        "filename": None,
        "headers": "MessagePartHeader",
        "mimeType": None,
        "partId": None,
        "parts": "MessagePart",
    },
    "MessagePartBody": {"attachmentId": None, "data": None, "size": None},
    "MessagePartHeader": {"name": None, "value": None},
    "ListMessagesResponse": {
        "messages": "Message",
        "nextPageToken": None,
        "resultSizeEstimate": None,
    },
    "ListHistoryResponse": {"history": "History", "historyId": None, "nextPageToken": None},
    "History": {
        "id": None,
        "labelsAdded": "HistoryLabelAdded",
        "labelsRemoved": "HistoryLabelRemoved",
        "messages": "Message",
        "messagesAdded": "HistoryMessageAdded",
        "messagesDeleted": "HistoryMessageDeleted",
    },
    "HistoryLabelAdded": {"labelIds": None, "message": "Message"},
    "HistoryLabelRemoved": {"labelIds": None, "message": "Message"},
    "HistoryMessageAdded": {"message": "Message"},
    "HistoryMessageDeleted": {"message": "Message"},
    "ListThreadsResponse": {"nextPageToken": None, "resultSizeEstimate": None, "threads": "Thread"},
    "Thread": {"historyId": None, "id": None, "messages": "Message", "snippet": None},
    "ListLabelsResponse": {"labels": "Label"},
    "Label": {
        "color": "LabelColor",
        "id": None,
        "labelListVisibility": None,
        "messageListVisibility": None,
        "messagesTotal": None,
        "messagesUnread": None,
        "name": None,
        "threadsTotal": None,
        "threadsUnread": None,
        "type": None,
    },
    "LabelColor": {"backgroundColor": None, "textColor": None},
    **CALENDAR_SCHEMAS,
    # People API v1: the answers the sandbox serves and the parts of a Person it fills.
    "SearchResponse": {"results": "SearchResult"},
    "SearchResult": {"person": "Person"},
    "ListOtherContactsResponse": {
        "nextPageToken": None,
        "nextSyncToken": None,
        "otherContacts": "Person",
        "totalSize": None,
    },
    "ListConnectionsResponse": {
        "connections": "Person",
        "nextPageToken": None,
        "nextSyncToken": None,
        "totalItems": None,
        "totalPeople": None,
    },
    "Person": {
        "addresses": "Address",
        "ageRange": None,
        "ageRanges": "AgeRangeType",
        "biographies": "Biography",
        "birthdays": "Birthday",
        "braggingRights": "BraggingRights",
        "calendarUrls": "CalendarUrl",
        "clientData": "ClientData",
        "coverPhotos": "CoverPhoto",
        "emailAddresses": "EmailAddress",
        "etag": None,
        "events": "Event",
        "externalIds": "ExternalId",
        "fileAses": "FileAs",
        "genders": "Gender",
        "imClients": "ImClient",
        "interests": "Interest",
        "locales": "Locale",
        "locations": "Location",
        "memberships": "Membership",
        "metadata": "PersonMetadata",
        "miscKeywords": "MiscKeyword",
        "names": "Name",
        "nicknames": "Nickname",
        "occupations": "Occupation",
        "organizations": "Organization",
        "phoneNumbers": "PhoneNumber",
        "photos": "Photo",
        "relations": "Relation",
        "relationshipInterests": "RelationshipInterest",
        "relationshipStatuses": "RelationshipStatus",
        "residences": "Residence",
        "resourceName": None,
        "sipAddresses": "SipAddress",
        "skills": "Skill",
        "taglines": "Tagline",
        "urls": "Url",
        "userDefined": "UserDefined",
    },
    "Name": {
        "displayName": None,
        "displayNameLastFirst": None,
        "familyName": None,
        "givenName": None,
        "honorificPrefix": None,
        "honorificSuffix": None,
        "metadata": "FieldMetadata",
        "middleName": None,
        "phoneticFamilyName": None,
        "phoneticFullName": None,
        "phoneticGivenName": None,
        "phoneticHonorificPrefix": None,
        "phoneticHonorificSuffix": None,
        "phoneticMiddleName": None,
        "unstructuredName": None,
    },
    "EmailAddress": {
        "displayName": None,
        "formattedType": None,
        "metadata": "FieldMetadata",
        "type": None,
        "value": None,
    },
    "Organization": {
        "costCenter": None,
        "current": None,
        "department": None,
        "domain": None,
        "endDate": "Date",
        "formattedType": None,
        "fullTimeEquivalentMillipercent": None,
        "jobDescription": None,
        "location": None,
        "metadata": "FieldMetadata",
        "name": None,
        "phoneticName": None,
        "startDate": "Date",
        "symbol": None,
        "title": None,
        "type": None,
    },
    "PhoneNumber": {
        "canonicalForm": None,
        "formattedType": None,
        "metadata": "FieldMetadata",
        "type": None,
        "value": None,
    },
    "FieldMetadata": {"primary": None, "source": "Source", "sourcePrimary": None, "verified": None},
    "Source": {
        "etag": None,
        "id": None,
        "profileMetadata": "ProfileMetadata",
        "type": None,
        "updateTime": None,
    },
    "PersonMetadata": {
        "deleted": None,
        "linkedPeopleResourceNames": None,
        "objectType": None,
        "previousResourceNames": None,
        "sources": "Source",
    },
}

# What each routed method answers with (the discovery document's `response.$ref`).
RESPONSE_SCHEMAS: dict[str, str] = {
    "gmail.users.getProfile": "Profile",
    "gmail.users.history.list": "ListHistoryResponse",
    "gmail.users.labels.list": "ListLabelsResponse",
    "gmail.users.labels.create": "Label",
    "gmail.users.messages.list": "ListMessagesResponse",
    "gmail.users.messages.get": "Message",
    "gmail.users.messages.attachments.get": "MessagePartBody",
    "gmail.users.messages.modify": "Message",
    "gmail.users.messages.send": "Message",
    "gmail.users.threads.get": "Thread",
    "gmail.users.threads.list": "ListThreadsResponse",
    "calendar.events.insert": "Event",
    "calendar.events.get": "Event",
    "calendar.events.patch": "Event",
    "calendar.events.list": "Events",
    "calendar.freebusy.query": "FreeBusyResponse",
    "people.people.searchContacts": "SearchResponse",
    "people.people.connections.list": "ListConnectionsResponse",
    "people.otherContacts.search": "SearchResponse",
    "people.otherContacts.list": "ListOtherContactsResponse",
}

# A parsed selection: property → what to keep inside it (None: all of it).
Selection = dict[str, "Selection | None"]
WILDCARD = "*"
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\*|[,/()]|.")


def invalid(what: str) -> errors.GmailError:
    return errors.GmailError(
        400,
        f"Invalid field selection {what}",
        "invalidParameter",
        extra_item={"locationType": "parameter", "location": "fields"},
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _TOKEN.findall(text)
        self.at = 0

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.at += 1
        return token

    def selection(self) -> Selection:
        chosen: Selection = {}
        while True:
            _merge(chosen, self.item())
            if self.peek() != ",":
                return chosen
            self.take()

    def item(self) -> Selection:
        path = [self.name()]
        while self.peek() == "/":
            self.take()
            path.append(self.name())
        inner: Selection | None = None
        if self.peek() == "(":
            self.take()
            inner = self.selection()
            if self.take() != ")":
                raise invalid(self.text)
        if WILDCARD in path[:-1] or (path[-1] == WILDCARD and inner is not None):
            raise invalid("/".join(path))
        item: Selection = {path[-1]: inner}
        for name in reversed(path[:-1]):
            item = {name: item}
        return item

    def name(self) -> str:
        token = self.take()
        if token == WILDCARD or (token[:1].isalpha() or token[:1] == "_"):
            return token
        raise invalid(self.text)


def _merge(into: Selection, more: Selection) -> None:
    for name, inner in more.items():
        if name not in into:
            into[name] = inner
            continue
        existing = into[name]
        if existing is None or inner is None:
            into[name] = None  # the whole field wins over parts of it
        else:
            _merge(existing, inner)


def _check(selection: Selection, schema: str, where: str = "") -> None:
    properties = SCHEMAS[schema]
    for name, inner in selection.items():
        path = f"{where}{name}"
        if name == WILDCARD:
            continue
        if name not in properties:
            raise invalid(path)
        if inner is not None:
            nested = properties[name]
            if nested is None:
                raise invalid(path + "/" + next(iter(inner)))
            # Schemas the sandbox never fills (a Person's photos, say) are not spelled
            # out: a selection inside them selects nothing, as it would from an empty one.
            if nested in SCHEMAS:
                _check(inner, nested, path + "/")


def parse(text: str, operation: str) -> Selection | None:
    """The selection `text` asks for on `operation`'s answer; None when it asks for all
    of it. Raises the 400 Google answers for an invalid selection."""
    if not text or operation not in RESPONSE_SCHEMAS:
        return None
    parser = _Parser(text)
    selection = parser.selection()
    if parser.at != len(parser.tokens):
        raise invalid(text)
    _check(selection, RESPONSE_SCHEMAS[operation])
    return None if WILDCARD in selection else selection


# A JSON object stays an object whatever is selected from it.
@overload
def select(value: dict[Any, Any], selection: Selection | None) -> dict[Any, Any]: ...
@overload
def select(value: object, selection: Selection | None) -> object: ...
def select(value: object, selection: Selection | None) -> object:
    """The parts of a JSON answer that `selection` asks for."""
    if selection is None or WILDCARD in selection:
        return value
    if isinstance(value, list):
        return [select(element, selection) for element in value]
    if not isinstance(value, dict):
        return value
    return {name: select(value[name], inner) for name, inner in selection.items() if name in value}
