"""A subset of Gmail's search syntax (the `q` parameter) turned into a Django Q over the
fields stored at insert time.

Supported: from: to: cc: bcc: subject: rfc822msgid: label: in: is: has:attachment
after: before: newer_than: older_than:, bare words and "phrases", `-` negation, `OR`
(binding tighter than the implicit AND), ( ) grouping and { } OR-groups.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from sandbox.mime import strip_msgid

_TOKEN = re.compile(r'\s*(-?[\w.]+:"[^"]*"|-?"[^"]*"|[(){}]|-?[^\s(){}]+)')
_IS = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
_UNITS = {"d": 1, "m": 30, "y": 365}


@dataclass
class Search:
    q: Q
    # in:spam / in:trash / in:anywhere lift the default exclusion of SPAM and TRASH.
    wants_spam_trash: bool = False


class _Parser:
    def __init__(self, text: str, labels_by_name: dict[str, str]):
        self.tokens = [t for t in _TOKEN.findall(text) if t.strip()]
        self.position = 0
        self.labels_by_name = labels_by_name
        self.wants_spam_trash = False

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def conjunction(self, closer: str | None = None) -> Q:
        result = Q()
        while (token := self.peek()) is not None and token != closer:
            result &= self.disjunction(closer)
        if closer and self.peek() == closer:
            self.take()
        return result

    def disjunction(self, closer: str | None) -> Q:
        result = self.term(closer)
        while self.peek() == "OR":
            self.take()
            if self.peek() in (None, closer):
                break
            result |= self.term(closer)
        return result

    def term(self, closer: str | None) -> Q:
        word = self.take()
        if word == "(":
            return self.conjunction(")")
        if word == "{":
            group = Q(pk__in=[])
            while (inner := self.peek()) is not None and inner != "}":
                group |= self.term("}")
            if self.peek() == "}":
                self.take()
            return group
        if word in (")", "}"):
            return Q()
        if word.startswith("-") and len(word) > 1:
            return ~self.atom(word[1:])
        return self.atom(word)

    def atom(self, token: str) -> Q:
        key, sep, value = token.partition(":")
        if not sep or not value or key.startswith('"'):
            return _words(token.strip('"'))
        value = value.strip('"')
        key = key.lower()
        handler = getattr(self, f"_{key}", None)
        return handler(value) if handler else _words(token)

    def _from(self, value: str) -> Q:
        return Q(from_addr__icontains=value) | Q(from_name__icontains=value)

    def _to(self, value: str) -> Q:
        return (
            Q(to_addrs__icontains=value)
            | Q(cc_addrs__icontains=value)
            | Q(bcc_addrs__icontains=value)
        )

    def _cc(self, value: str) -> Q:
        return Q(cc_addrs__icontains=value)

    def _bcc(self, value: str) -> Q:
        return Q(bcc_addrs__icontains=value)

    def _subject(self, value: str) -> Q:
        return Q(subject__icontains=value)

    def _rfc822msgid(self, value: str) -> Q:
        return Q(rfc822_msgid=strip_msgid(value))

    def _label(self, value: str) -> Q:
        name = value.lower()
        label_id = self.labels_by_name.get(name) or self.labels_by_name.get(name.replace("-", " "))
        if label_id in ("SPAM", "TRASH"):
            self.wants_spam_trash = True
        return Q(label_ids__contains=f" {label_id} ") if label_id else Q(pk__in=[])

    def _in(self, value: str) -> Q:
        if value.lower() == "anywhere":
            self.wants_spam_trash = True
            return Q()
        return self._label(value)

    def _is(self, value: str) -> Q:
        value = value.lower()
        if value == "read":
            return ~Q(label_ids__contains=" UNREAD ")
        label_id = _IS.get(value)
        return Q(label_ids__contains=f" {label_id} ") if label_id else Q(pk__in=[])

    def _has(self, value: str) -> Q:
        return Q(has_attachments=True) if value.lower() == "attachment" else Q(pk__in=[])

    def _after(self, value: str) -> Q:
        return Q(internal_date__gte=_date_ms(value))

    def _before(self, value: str) -> Q:
        return Q(internal_date__lt=_date_ms(value))

    def _newer_than(self, value: str) -> Q:
        return Q(internal_date__gte=_relative_ms(value))

    def _older_than(self, value: str) -> Q:
        return Q(internal_date__lt=_relative_ms(value))


def _words(text: str) -> Q:
    """A plain term: Gmail looks for it in every header and the body, recipients too."""
    return (
        Q(subject__icontains=text)
        | Q(snippet__icontains=text)
        | Q(from_addr__icontains=text)
        | Q(from_name__icontains=text)
        | Q(to_addrs__icontains=text)
        | Q(cc_addrs__icontains=text)
    )


def _date_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    for layout in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            moment = datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(moment.timestamp() * 1000)
    return 0


def _relative_ms(value: str) -> int:
    amount, unit = value[:-1], value[-1:].lower()
    days = int(amount) * _UNITS.get(unit, 1) if amount.isdigit() else 0
    return int((timezone.now() - timedelta(days=days)).timestamp() * 1000)


def parse_query(text: str, labels_by_name: dict[str, str]) -> Search:
    """`labels_by_name` maps lower-cased label names (and system ids) to label ids."""
    parser = _Parser(text, labels_by_name)
    return Search(q=parser.conjunction(), wants_spam_trash=parser.wants_spam_trash)
