"""Connecting a mailbox and granting admin consent are form posts answered by a redirect to
the provider; browsers hold such a redirect to the page's `form-action`, so the policy must
admit the provider's consent page, on each provider."""

from urllib.parse import urlsplit

from django.urls import reverse

from mailsync.models import MailboxConnection
from tests.test_content_security_policy import policy_of


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_ticking_email_redirects_to_a_consent_page_the_form_action_admits(world):
    my_account = reverse("mailsync:my_account")
    admitted = policy_of(world.client.get(my_account))["form-action"]

    tick = world.client.post(my_account, {"full_name": world.recruiter.full_name, "email": "on"})
    connection = world.reauthorize()  # the Re-authorize button's post, through to Allow

    assert tick.status_code == 302
    assert _origin(tick["Location"]) in admitted
    assert _origin(tick["Location"]) != "http://testserver"  # the provider's, not ours
    assert connection.state == MailboxConnection.State.CONNECTED


def test_admin_consent_redirects_to_a_page_the_form_action_admits(outlook_world, client_for):
    admin = client_for(outlook_world.team.super_admin)
    admitted = policy_of(admin.get(reverse("inbound:company_settings")))["form-action"]

    start = admin.post(reverse("mailsync:admin_consent"))

    assert start.status_code == 302
    assert _origin(start["Location"]) in admitted
