"""The Calendar and Contacts boxes on My account, on both providers through the sandbox:
each asks the provider for just its scopes on top of the grant (incremental consent),
works without Email and under limited sync, stops at once when unticked (saying what
happens at the provider), and yields to the company's switch without revoking anything."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from accounts.models import IntegrationPermission, Organisation
from mailsync.models import MailboxConnection
from mailsync.policy import feature_status, mailbox_status
from mailsync.providers import get_provider

GOOGLE_CALENDAR = {
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.freebusy",
}


def _states(world) -> dict[str, str]:
    return dict(
        IntegrationPermission.objects.filter(user=world.recruiter).values_list("kind", "state")
    )


def _asked_scopes(start) -> set[str]:
    query = parse_qs(urlsplit(start["Location"]).query)
    return set(query["scope"][0].split())


def _feature(world, kind: str):
    connection = MailboxConnection.objects.select_related("user", "organisation").get(
        user=world.recruiter
    )
    return feature_status(connection.user, kind, connection)


def test_ticking_calendar_asks_only_for_calendar_on_top_of_email(world):
    mailbox = world.connect()
    cursor = mailbox.cursor
    start = world.save_my_account(email=True, calendar=True)
    assert start.status_code == 302
    asked = _asked_scopes(start)
    calendar_scopes = get_provider(world.kit.name).scopes_for_feature("calendar")
    if world.kit.name == "google":
        # Google: only the new scopes, added to the grant by include_granted_scopes.
        assert asked == GOOGLE_CALENDAR
        assert parse_qs(urlsplit(start["Location"]).query)["include_granted_scopes"] == ["true"]
    else:
        # MSAL asks for the whole set; Microsoft's screen shows only what is new.
        assert {s.rsplit("/", 1)[-1] for s in asked} >= set(world.kit.scopes) | set(calendar_scopes)
    assert _states(world)["calendar"] == IntegrationPermission.State.AWAITING_AUTHORIZATION
    assert _states(world)["email"] == IntegrationPermission.State.CONNECTED

    mailbox = world.consent(start)
    assert set(mailbox.granted_scopes) >= set(world.kit.scopes) | set(calendar_scopes)
    assert mailbox.uses_email and mailbox.uses_calendar and not mailbox.uses_contacts
    assert mailbox.cursor == cursor  # mail sync carries on where it was
    assert _states(world) == {
        "email": "connected",
        "calendar": "connected",
        "contacts": "off",
    }
    assert _feature(world, "calendar").allowed
    assert not _feature(world, "contacts").allowed
    page = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert "Waiting for provider authorization" not in page


def test_calendar_and_contacts_work_with_email_off(world):
    start = world.save_my_account(calendar=True, contacts=True)
    asked = _asked_scopes(start)
    mail_scopes = set(world.kit.scopes) - {"User.Read"}
    assert not {s.rsplit("/", 1)[-1] for s in asked} & {s.rsplit("/", 1)[-1] for s in mail_scopes}
    mailbox = world.consent(start)
    assert not mailbox.uses_email and mailbox.uses_calendar and mailbox.uses_contacts
    assert not set(mailbox.granted_scopes) & mail_scopes
    status = mailbox_status(mailbox)
    assert not status.may_send and not status.may_read
    assert _feature(world, "calendar").allowed and _feature(world, "contacts").allowed
    assert _states(world) == {"email": "off", "calendar": "connected", "contacts": "connected"}


def test_calendar_works_under_limited_sync(world):
    world.team.organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    world.team.organisation.routing_confirmed_at = world.team.organisation.created_at
    world.team.organisation.save()
    mailbox = world.connect(calendar=True)
    status = mailbox_status(mailbox)
    assert status.may_send and not status.may_read
    assert _feature(world, "calendar").allowed


def test_unticking_calendar_stops_it_at_once_and_keeps_the_grant(world):
    world.connect(calendar=True, contacts=True)
    answer = world.save_my_account(email=True, contacts=True)
    assert answer["Location"] == reverse("mailsync:my_account")  # no consent needed
    assert not _feature(world, "calendar").allowed
    assert _feature(world, "contacts").allowed
    assert mailbox_status(MailboxConnection.objects.get(user=world.recruiter)).may_read
    assert not world.log(operation="oauth2.revoke").exists()
    page = world.client.get(reverse("mailsync:my_account")).content.decode()
    if world.kit.name == "google":
        assert "Google grants access as a whole" in page
    else:
        assert "Your consent stays in your Microsoft account" in page
    assert _states(world)["calendar"] == "off"

    # Ticking it again needs no consent: the grant still covers it.
    again = world.save_my_account(email=True, calendar=True, contacts=True)
    assert again["Location"] == reverse("mailsync:my_account")
    assert _feature(world, "calendar").allowed
    assert _states(world)["calendar"] == "connected"


def test_unticking_email_keeps_calendar_and_stops_mail(world):
    world.connect(calendar=True)
    world.save_my_account(calendar=True)
    mailbox = MailboxConnection.objects.get(user=world.recruiter)
    assert mailbox.state == MailboxConnection.State.CONNECTED and not mailbox.uses_email
    assert not mailbox_status(mailbox).may_send
    assert _feature(world, "calendar").allowed


def test_unticking_every_box_disconnects_and_revokes(world):
    world.connect(calendar=True)
    world.save_my_account()
    mailbox = MailboxConnection.objects.get(user=world.recruiter)
    assert mailbox.state == MailboxConnection.State.DISCONNECTED
    assert set(_states(world).values()) == {"off"}
    if world.kit.name == "google":
        assert world.log(operation="oauth2.revoke", status=200).count() == 1


def test_declining_calendar_consent_leaves_email_connected_and_calendar_off(world):
    world.connect()
    start = world.save_my_account(email=True, calendar=True)
    consent = urlsplit(start["Location"])
    back = world.client.post(
        f"{consent.path}?{consent.query}",
        {
            "decision": "deny" if world.kit.name == "google" else "cancel",
            "address": world.recruiter.email,
        },
    )
    callback = urlsplit(back["Location"])
    done = world.client.get(f"{callback.path}?{callback.query}", follow=True)
    assert "You declined access." in done.content.decode()
    assert _states(world) == {"email": "connected", "calendar": "off", "contacts": "off"}
    assert mailbox_status(MailboxConnection.objects.get(user=world.recruiter)).may_read


def test_a_revoked_grant_marks_every_box_it_serves(world):
    world.connect(calendar=True)
    world.revoke_grant()
    world.sync()
    assert _states(world) == {
        "email": "needs_reauthorization",
        "calendar": "needs_reauthorization",
        "contacts": "off",
    }
    assert not _feature(world, "calendar").allowed


@pytest.mark.parametrize("kind", ["calendar", "contacts"])
def test_company_off_disables_the_box_and_revokes_nothing(world, client_for, kind):
    world.connect(**{kind: True})
    super_admin = client_for(world.team.super_admin)
    answer = super_admin.post(
        reverse("inbound:company_settings"),
        {
            "form": "integrations",
            "calendar_enabled": "on" if kind != "calendar" else "",
            "contacts_enabled": "on" if kind != "contacts" else "",
        },
        follow=True,
    )
    assert "Nothing was revoked" in answer.content.decode()
    label = kind.capitalize()
    assert _feature(world, kind).why_not == (
        f"Your company has turned {label} off under Settings › Company. "
        "Ask your Super Admin to turn it on."
    )
    assert not world.log(operation="oauth2.revoke").exists()
    page = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert f"Your company has turned {label} off" in page
    assert f'name="{kind}" disabled' in page or f'disabled id="id_{kind}"' in page

    # Saving My account while it is off neither ticks nor unticks the box.
    world.save_my_account(email=True)
    assert _states(world)[kind] == "connected"  # left as the user had it, and stopped
    assert not _feature(world, kind).allowed
    other = "contacts" if kind == "calendar" else "calendar"
    world.save_my_account(email=True, **{other: False, kind: True})
    assert not _feature(world, kind).allowed

    history = super_admin.get(reverse("inbound:company_settings")).content.decode()
    assert f"{label} on" in history

    super_admin.post(
        reverse("inbound:company_settings"),
        {"form": "integrations", "calendar_enabled": "on", "contacts_enabled": "on"},
    )
    assert _feature(world, kind).allowed  # resumes with no new consent


def test_a_box_the_company_has_off_cannot_be_ticked(world):
    world.team.organisation.calendar_enabled = False
    world.team.organisation.save()
    world.connect()
    answer = world.save_my_account(email=True, calendar=True)
    assert answer["Location"] == reverse("mailsync:my_account")  # no consent screen
    assert _states(world).get("calendar", "off") == "off"
    assert not MailboxConnection.objects.get(user=world.recruiter).uses_calendar


def test_microsofts_consent_screen_asks_only_for_what_is_new(outlook_world):
    outlook_world.connect()
    start = outlook_world.save_my_account(email=True, calendar=True)
    consent = urlsplit(start["Location"])
    page = outlook_world.client.get(f"{consent.path}?{consent.query}").content.decode()
    asked, _, already = page.partition("You have already given this app permission to:")
    assert "Have full access to your calendars" in asked
    assert "Send mail as you" not in asked and "Send mail as you" in already


def test_saving_again_after_an_abandoned_consent_asks_the_provider_again(world):
    world.connect()
    abandoned = world.save_my_account(email=True, calendar=True)
    assert abandoned.status_code == 302  # the user closes the provider's page instead
    page = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert "Waiting for provider authorization" in page

    again = world.save_my_account(email=True, calendar=True)
    assert again.status_code == 302
    assert _asked_scopes(again) == _asked_scopes(abandoned)
    mailbox = world.consent(again)
    assert mailbox.uses_calendar
    assert _states(world)["calendar"] == IntegrationPermission.State.CONNECTED
