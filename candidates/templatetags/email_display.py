from django import template

from candidates.rendering import CleanedHtml, clean_attachment_name, clean_email_html

register = template.Library()


@register.simple_tag
def cleaned_email_html(html: str) -> CleanedHtml:
    """`{% cleaned_email_html message.body_html as body %}`: then `body.html` and
    `body.has_remote_images`."""
    return clean_email_html(html)


@register.filter
def attachment_name(name: str) -> str:
    """`{{ attachment.filename|attachment_name }}`: the name without bidi or other
    invisible characters, as the download will be called."""
    return clean_attachment_name(name)
