from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # People join an organisation when its admins add them; there is no public sign-up.
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth reads the client's address through ALLAUTH_TRUSTED_PROXY_COUNT proxies and
        # raises ImproperlyConfigured when X-Forwarded-For has fewer entries than that: a
        # request that bypassed our proxies. It is the sender's doing, so a 403, not a 500.
        try:
            return super().get_client_ip(request)
        except ImproperlyConfigured as error:
            raise PermissionDenied("X-Forwarded-For does not come through our proxies.") from error


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        # Google / Microsoft sign-in reaches existing accounts only (matched by email).
        return False
