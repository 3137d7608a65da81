"""Access helpers for views: the first of a view's four steps.

Outsiders get 404 (a record of another organisation, or one the policy hides, does not
exist for them); people who can see that a page exists but may not use it get 403.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts import policy
from accounts.models import User


class MemberRequest(HttpRequest):
    """The request a `member_required` view receives, as type checkers should see it: its
    user is a signed-in member, not an anonymous visitor (django-stubs' own advice). Only
    annotations use it; Django still passes a plain HttpRequest."""

    user: User
    htmx: HtmxDetails  # set by django-htmx's middleware on every request


def member_required(view: Callable) -> Callable:
    """Signed in, active, and a member of an organisation (operators use Django admin)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not policy.can_use_app(request.user):
            raise PermissionDenied("This page is for members of an organisation.")
        request.user = _loaded(request.user)
        return view(request, *args, **kwargs)

    return wrapped


def _loaded(user: User) -> User:
    """The user itself rather than the SimpleLazyObject that Django's authentication
    middleware puts on the request, once the member check above has loaded it. Every
    attribute read through that proxy raises and catches an AttributeError, and a page
    reads the user's role and organisation hundreds of times (the policy, once per
    thread and action; docs/benchmarks.md, the Emails tab). Views and templates see the
    same object either way. `_wrapped` is LazyObject's own attribute, not public API:
    were it gone, getattr gives the proxy back and only the saving is lost."""
    return getattr(user, "_wrapped", user)


def require(allowed: bool, message: str = "You do not have access to this page.") -> None:
    if not allowed:
        raise PermissionDenied(message)
