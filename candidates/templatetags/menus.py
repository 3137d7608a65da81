"""What the viewer may do from a thread's or a message's ⋯ menu, asked of the policy
once per menu, so that a menu with nothing in it is left out of the page."""

from typing import Any

from django import template

from candidates import policy
from candidates.models import EmailMessage, EmailThread
from candidates.policy import ThreadAction

register = template.Library()


@register.simple_tag(takes_context=True)
def thread_actions(context: dict[str, Any], thread: EmailThread) -> frozenset[ThreadAction]:
    """`{% thread_actions thread as actions %}`, then `{% if "make_secret" in actions %}`."""
    return policy.thread_actions(context["user"], thread)


@register.simple_tag(takes_context=True)
def message_actions(context: dict[str, Any], message: EmailMessage) -> frozenset[str]:
    """`{% message_actions message as actions %}` for a message's ⋯ menu."""
    return policy.message_actions(context["user"], message)
