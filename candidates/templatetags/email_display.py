from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django import template

from candidates.rendering import clean_attachment_name

register = template.Library()


@register.filter
def attachment_name(name: str) -> str:
    """`{{ attachment.filename|attachment_name }}`: the name without bidi or other
    invisible characters, as the download will be called."""
    return clean_attachment_name(name)


# How many of a thread's newest messages the Emails tab shows before "Show N earlier".
NEWEST_MESSAGES_SHOWN = 3


@dataclass(frozen=True)
class CollapsedThread:
    earlier: list[Any]
    newest: list[Any]


@register.simple_tag
def collapse_thread(messages: Iterable[Any]) -> CollapsedThread:
    """`{% collapse_thread thread.messages.all as parts %}`: the thread's messages (oldest
    first, already fetched) split into the earlier ones, collapsed, and the newest shown."""
    fetched = list(messages)
    cut = max(len(fetched) - NEWEST_MESSAGES_SHOWN, 0)
    return CollapsedThread(earlier=fetched[:cut], newest=fetched[cut:])


@register.filter
def sender_name(from_header: str) -> str:
    """`{{ message.from_header|sender_name }}`: the From header's display name, or its
    address when it has none ("Started by …" on a thread someone outside wrote first)."""
    name, address = parseaddr(from_header)
    return name or address or from_header
