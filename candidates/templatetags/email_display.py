from email.utils import parseaddr

from django import template

from candidates.rendering import clean_attachment_name

register = template.Library()


@register.filter
def attachment_name(name: str) -> str:
    """`{{ attachment.filename|attachment_name }}`: the name without bidi or other
    invisible characters, as the download will be called."""
    return clean_attachment_name(name)


@register.filter
def sender_name(from_header: str) -> str:
    """`{{ message.from_header|sender_name }}`: the From header's display name, or its
    address when it has none ("Started by …" on a thread someone outside wrote first)."""
    name, address = parseaddr(from_header)
    return name or address or from_header
