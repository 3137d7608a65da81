"""Re-authorizing a mailbox that is already connected (or needs it), on Gmail and on
Outlook: whatever goes wrong on the way (declined, a code that fails PKCE, fewer
permissions granted, an expired link), the mailbox stays exactly as it was and the page says
so. Only unticking Email disconnects."""

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import IntegrationPermission
from candidates.models import EmailMessage
from mailsync.models import MailboxConnection, PendingAuthorization
from mailsync.sending import Draft
from mailsync.services import message_send

DECLINE = {"google": {"decision": "deny"}, "microsoft": {"decision": "cancel"}}
# The permission to send, as each consent screen lists it.
SEND_SCOPE = {
    "google": "https://www.googleapis.com/auth/gmail.send",
    "microsoft": "https://graph.microsoft.com/Mail.Send",
}
AS_IT_WAS = (
    "state",
    "credentials",
    "cursor",
    "account_address",
    "granted_scopes",
    "sync_level",
    "authorized_at",
    "label_id",
)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


def _start(world) -> str:
    """The Re-authorize button on My account: where the provider's consent screen is."""
    return world.client.post(reverse("mailsync:connect"))["Location"]


def _consent(world, consent_url: str, decision: dict) -> str:
    """Answer the consent screen; returns the callback URL the provider sends us back to."""
    assert world.client.get(_path(consent_url)).status_code == 200
    back = world.client.post(_path(consent_url), {**decision, "address": world.recruiter.email})
    return back["Location"]


def _allow(world) -> dict:
    return world.kit.consent


def _declined(world) -> str:
    return _consent(world, _start(world), DECLINE[world.kit.name])


def _code_fails_pkce(world) -> str:
    """Two consent tabs; the code of one comes back with the state of the other, so its
    PKCE verifier does not match (what a code injected into the callback looks like)."""
    first, second = _start(world), _start(world)
    first_back = dict(parse_qsl(urlsplit(_consent(world, first, _allow(world))).query))
    second_back = _consent(world, second, _allow(world))
    return _with_query(second_back, state=first_back["state"])


def _fewer_permissions(world) -> str:
    """The user unticks the permission to send on the consent screen (Google's granular
    consent): the code, and the tokens, carry the other permissions only."""
    consent_url = _start(world)
    query = dict(parse_qsl(urlsplit(consent_url).query))
    kept = [s for s in query["scope"].split() if s != SEND_SCOPE[world.kit.name]]
    assert len(kept) < len(query["scope"].split())
    return _consent(world, _with_query(consent_url, scope=" ".join(kept)), _allow(world))


def _expired(world) -> str:
    """The user leaves the consent screen open longer than Threadline waits for it."""
    consent_url = _start(world)
    PendingAuthorization.objects.filter(user=world.recruiter).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    return _consent(world, consent_url, _allow(world))


FAILED_REAUTHORIZATIONS = {
    "declined": (_declined, "You declined access."),
    "code_fails_pkce": (_code_fails_pkce, "The provider did not complete the authorization."),
    "fewer_permissions": (_fewer_permissions, "needs every permission on the consent screen"),
    "expired": (_expired, "That authorization link has expired"),
}


def _as_it_was(connection: MailboxConnection) -> dict:
    return MailboxConnection.objects.filter(pk=connection.pk).values(*AS_IT_WAS).get()


def _email_permission(world) -> str:
    return IntegrationPermission.objects.get(user=world.recruiter, kind="email").state


@pytest.mark.parametrize("failure", FAILED_REAUTHORIZATIONS)
def test_a_failed_reauthorization_leaves_the_mailbox_connected_and_says_so(world, failure):
    connection = world.connect()
    thread = message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Next steps", body_text="Hello"),
    ).thread
    before = _as_it_was(connection)
    fail, reason = FAILED_REAUTHORIZATIONS[failure]

    page = world.client.get(_path(fail(world)), follow=True)

    text = page.content.decode()
    assert page.redirect_chain[-1][0] == reverse("mailsync:my_account")
    assert reason in text
    assert f"Your mailbox {world.recruiter.email} stays connected as before." in text
    assert "not connected" not in text
    assert _as_it_was(connection) == before
    assert _email_permission(world) == IntegrationPermission.State.CONNECTED
    assert page.context["form"]["email"].value() is True
    assert '<span class="state state-connected">Connected</span>' in text
    # And it really is: the candidate's reply is synced as before.
    world.reply(world.candidate_box, world.recruiter.email, "Tuesday works for me.")
    assert world.sync().stored == 1
    reply = EmailMessage.objects.get(thread=thread, direction=EmailMessage.Direction.INBOUND)
    assert reply.body_text.strip() == "Tuesday works for me."


def test_declining_a_needed_reauthorization_leaves_it_needed(world):
    connection = world.connect()
    world.revoke_grant()
    world.sync()
    before = _as_it_was(connection)
    assert before["state"] == MailboxConnection.State.NEEDS_REAUTHORIZATION

    page = world.client.get(_path(_declined(world)), follow=True)

    text = page.content.decode()
    assert (
        f"You declined access. Your mailbox {world.recruiter.email} still needs "
        "re-authorization, as before." in text
    )
    assert _as_it_was(connection) == before
    assert _email_permission(world) == IntegrationPermission.State.NEEDS_REAUTHORIZATION
    assert f"Re-authorize {world.recruiter.email}" in text


def test_a_first_authorization_that_fails_pkce_connects_nothing(world):
    world.client.post(
        reverse("mailsync:my_account"), {"full_name": world.recruiter.full_name, "email": "on"}
    )

    page = world.client.get(_path(_code_fails_pkce(world)), follow=True)

    text = page.content.decode()
    assert "The provider did not complete the authorization." in text
    assert "stays connected" not in text
    assert not MailboxConnection.objects.filter(user=world.recruiter).exists()
    assert _email_permission(world) == IntegrationPermission.State.OFF
