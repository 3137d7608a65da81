from django import template

from candidates.rendering import clean_attachment_name

register = template.Library()


@register.filter
def attachment_name(name: str) -> str:
    """`{{ attachment.filename|attachment_name }}`: the name without bidi or other
    invisible characters, as the download will be called."""
    return clean_attachment_name(name)
