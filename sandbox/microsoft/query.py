"""Graph's message queries turned into a Django Q over the fields stored at insert time.

$filter (OData): `eq`/`ne` on from/emailAddress/address, subject, conversationId,
internetMessageId, isRead, isDraft, hasAttachments; `ge`/`gt`/`le`/`lt` on
receivedDateTime; `toRecipients/any(r: r/emailAddress/address eq '…')` (and cc, bcc),
`categories/any(c: c eq '…')`; `and`, `or`, `not` and parentheses.

$search (KQL, the whole value in double quotes): `from:` `to:` `cc:` `bcc:`
`participants:` `subject:` `body:`, bare words, `AND` (also implied) and `OR`.
"""

import re
from datetime import datetime

from django.db.models import Q

from sandbox.microsoft import errors
from sandbox.mime import strip_msgid

_FILTER_PART = re.compile(r"\s*('(?:[^']|'')*'|\(|\)|[\w/.:\-+]+(?:\([^()]*\))?|\S)", re.IGNORECASE)
_ANY = re.compile(
    r"^(toRecipients|ccRecipients|bccRecipients|categories)/any\((\w+):\s*(.+)\)$",
    re.IGNORECASE,
)
_RECIPIENT_FIELD = {
    "torecipients": "to_addrs",
    "ccrecipients": "cc_addrs",
    "bccrecipients": "bcc_addrs",
}


def _literal(part: str) -> str:
    if part.startswith("'") and part.endswith("'"):
        return part[1:-1].replace("''", "'")
    return part


def _date_ms(value: str) -> int:
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError as error:
        raise errors.bad_request(f"Invalid filter clause: bad date {value}.") from error


def _bool(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise errors.bad_request(f"Invalid filter clause: {value} is not a boolean.")
    return value.lower() == "true"


def _comparison(prop: str, operator: str, value: str) -> Q:
    prop_l, op = prop.lower(), operator.lower()
    if prop_l == "receiveddatetime" and op in ("ge", "gt", "le", "lt"):
        return Q(
            **{f"internal_date__{op.replace('ge', 'gte').replace('le', 'lte')}": _date_ms(value)}
        )
    if op not in ("eq", "ne"):
        raise errors.bad_request(f"Invalid filter clause: operator {operator} on {prop}.")
    text = _literal(value)
    if prop_l in ("from/emailaddress/address", "sender/emailaddress/address"):
        found = Q(from_addr__iexact=text)
    elif prop_l == "subject":
        found = Q(subject=text)
    elif prop_l == "conversationid":
        found = Q(thread_id=text)
    elif prop_l == "internetmessageid":
        found = Q(rfc822_msgid=strip_msgid(text))
    elif prop_l == "isread":
        found = (
            ~Q(label_ids__contains=" UNREAD ") if _bool(text) else Q(label_ids__contains=" UNREAD ")
        )
    elif prop_l == "isdraft":
        found = Q(label_ids__contains=" DRAFT ")
        found = found if _bool(text) else ~found
    elif prop_l == "hasattachments":
        found = Q(has_attachments=_bool(text))
    else:
        raise errors.bad_request(f"Invalid filter clause: property {prop} is not supported.")
    return found if op == "eq" else ~found


def _lambda(part: str) -> Q:
    found = _ANY.match(part)
    if not found:
        raise errors.bad_request(f"Invalid filter clause: {part}.")
    collection, variable, body = found.groups()
    parts = body.split()
    if len(parts) != 3 or parts[1].lower() != "eq":
        raise errors.bad_request(f"Invalid filter clause: {part}.")
    value = _literal(parts[2])
    if collection.lower() == "categories":
        return Q(categories__icontains=f'"{value}"')
    if parts[0].lower() != f"{variable}/emailaddress/address".lower():
        raise errors.bad_request(f"Invalid filter clause: {part}.")
    return Q(**{f"{_RECIPIENT_FIELD[collection.lower()]}__contains": f" {value.lower()} "})


class _FilterParser:
    def __init__(self, text: str):
        self.parts = [t for t in _FILTER_PART.findall(text) if t.strip()]
        self.position = 0

    def peek(self) -> str:
        return self.parts[self.position] if self.position < len(self.parts) else ""

    def take(self) -> str:
        if self.position >= len(self.parts):
            raise errors.bad_request("Invalid filter clause: unexpected end.")
        self.position += 1
        return self.parts[self.position - 1]

    def expression(self) -> Q:
        result = self.conjunction()
        while self.peek().lower() == "or":
            self.take()
            result |= self.conjunction()
        return result

    def conjunction(self) -> Q:
        result = self.unary()
        while self.peek().lower() == "and":
            self.take()
            result &= self.unary()
        return result

    def unary(self) -> Q:
        part = self.take()
        if part.lower() == "not":
            return ~self.unary()
        if part == "(":
            inner = self.expression()
            if self.take() != ")":
                raise errors.bad_request("Invalid filter clause: unbalanced parentheses.")
            return inner
        if "/any(" in part.lower():
            return _lambda(part)
        return _comparison(part, self.take(), self.take())


def parse_filter(text: str) -> Q:
    parser = _FilterParser(text)
    result = parser.expression()
    if parser.peek():
        raise errors.bad_request(f"Invalid filter clause: unexpected '{parser.peek()}'.")
    return result


_KQL_PART = re.compile(r'\s*([\w.]+:"[^"]*"|"[^"]*"|[()]|[^\s()]+)')


def _kql_term(part: str) -> Q:
    key, sep, value = part.partition(":")
    value = value.strip('"').lower()
    key = key.lower()
    if not sep or not value:
        word = part.strip('"')
        return (
            Q(subject__icontains=word)
            | Q(snippet__icontains=word)
            | Q(from_addr__icontains=word)
            | Q(from_name__icontains=word)
        )
    if key == "from":
        return Q(from_addr__icontains=value) | Q(from_name__icontains=value)
    if key in ("to", "cc", "bcc"):
        return Q(**{f"{key}_addrs__icontains": value})
    if key in ("participants", "recipients"):
        found = (
            Q(to_addrs__icontains=value)
            | Q(cc_addrs__icontains=value)
            | Q(bcc_addrs__icontains=value)
        )
        return found | Q(from_addr__icontains=value) if key == "participants" else found
    if key == "subject":
        return Q(subject__icontains=value)
    if key == "body":
        return Q(snippet__icontains=value)
    if key == "hasattachment" or key == "hasattachments":
        return Q(has_attachments=value == "true")
    return Q(subject__icontains=part) | Q(snippet__icontains=part)


def parse_search(text: str) -> Q:
    text = text.strip()
    if text.startswith('"') and text.endswith('"') and len(text) > 1:
        text = text[1:-1]
    tokens = [t for t in _KQL_PART.findall(text) if t.strip()]
    result, pending_or = Q(), False
    group: Q | None = None
    for part in tokens:
        if part == "OR":
            pending_or = True
            continue
        if part in ("AND", "(", ")"):
            continue
        term = _kql_term(part)
        if group is None:
            group = term
        elif pending_or:
            group |= term
        else:
            result &= group
            group = term
        pending_or = False
    return result & group if group is not None else result
