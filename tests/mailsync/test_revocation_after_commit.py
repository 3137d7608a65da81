"""Switching to limited sync and disconnecting: tokens are forgotten in one transaction with
the rest of the change, and revoked at the provider only once that has committed. A failure
half-way never leaves a read token stored under limited sync, and never revokes the tokens
of a mailbox that stays connected."""

import json

import pytest
from auditlog.models import LogEntry
from django.db import DatabaseError
from django.urls import reverse

from accounts.models import IntegrationPermission, Organisation
from mailsync.models import MailboxConnection
from mailsync.tokens import MailboxTokenStore
from sandbox.models import Grant
from tests.factories import MailboxConnectionFactory
from tests.mailsync.failing import RevocationWitness, unreachable_url, updates_refused

LIMITED_SYNC = {
    "form": "email_sync",
    "level": "limited",
    "routing_confirmed": "on",
    "microsoft_authorization_mode": "users",
    "confirm_level_change": "on",
}


def _switch_to_limited(client_for, team, **kwargs):
    return client_for(team.super_admin).post(
        reverse("inbound:company_settings"), LIMITED_SYNC, **kwargs
    )


def _read_tokens_under_limited_sync() -> list[int]:
    """Mailboxes authorized to read whose tokens are still stored while their organisation
    is on limited sync: there must never be any."""
    return [
        connection.pk
        for connection in MailboxConnection.objects.filter(
            organisation__email_sync_level=Organisation.SyncLevel.LIMITED,
            sync_level=Organisation.SyncLevel.FULL,
        )
        if json.loads(connection.credentials or "{}")
    ]


def _snapshot(connection: MailboxConnection) -> dict:
    connection = MailboxConnection.objects.select_related("organisation").get(pk=connection.pk)
    return {
        "level": connection.organisation.email_sync_level,
        "state": connection.state,
        "credentials": json.loads(connection.credentials or "{}"),
        "permission": IntegrationPermission.objects.get(user=connection.user, kind="email").state,
    }


def test_a_database_failure_half_way_through_the_switch_changes_nothing(world, client_for):
    connection = world.connect()
    before = _snapshot(connection)

    with updates_refused(MailboxConnection, connection.pk), pytest.raises(DatabaseError):
        _switch_to_limited(client_for, world.team)

    assert _read_tokens_under_limited_sync() == []
    # The whole change rolled back: the organisation, its audit trail, the mailbox...
    assert _snapshot(connection) == before
    organisation = Organisation.objects.get(pk=world.team.organisation.pk)
    assert organisation.email_sync_level == Organisation.SyncLevel.FULL
    updates = LogEntry.objects.get_for_object(organisation).filter(action=LogEntry.Action.UPDATE)
    assert not [entry for entry in updates if "email_sync_level" in entry.changes_dict]
    # ...and nothing was revoked, so the mailbox that stays connected still works.
    assert not world.log(operation="oauth2.revoke").exists()
    assert not Grant.objects.filter(mailbox=world.recruiter_box, revoked_at__isnull=False).exists()
    assert world.sync().status == "ok"


def test_read_grants_are_revoked_only_once_the_switch_has_committed(
    gmail_world, client_for, settings
):
    world = gmail_world
    connection = world.connect()
    witness = RevocationWitness(settings.GOOGLE_REVOKE_URI, lambda: _snapshot(connection))
    settings.GOOGLE_REVOKE_URI = witness.url

    with witness:
        response = _switch_to_limited(client_for, world.team, follow=True)

    assert "Email access is Send only" in response.content.decode()
    # What another process could read when Google received the revocation: all committed.
    assert witness.seen == [
        {
            "level": Organisation.SyncLevel.LIMITED,
            "state": MailboxConnection.State.NEEDS_REAUTHORIZATION,
            "credentials": {},
            "permission": IntegrationPermission.State.NEEDS_REAUTHORIZATION,
        }
    ]
    assert world.log(operation="oauth2.revoke", status=200).count() == 1
    assert Grant.objects.get(mailbox=world.recruiter_box).revoked_at is not None


def test_a_failed_revocation_does_not_undo_the_switch(gmail_world, client_for, settings):
    world = gmail_world
    connection = world.connect()
    settings.GOOGLE_REVOKE_URI = unreachable_url()

    response = _switch_to_limited(client_for, world.team, follow=True)

    assert "Email access is Send only" in response.content.decode()
    assert "1 user was deauthorized and must re-authorize" in response.content.decode()
    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    assert _read_tokens_under_limited_sync() == []


def test_disconnecting_revokes_only_once_the_tokens_are_forgotten(gmail_world, settings):
    world = gmail_world
    connection = world.connect()
    witness = RevocationWitness(settings.GOOGLE_REVOKE_URI, lambda: _snapshot(connection))
    settings.GOOGLE_REVOKE_URI = witness.url

    with witness:
        response = world.client.post(reverse("mailsync:disconnect"), follow=True)

    assert "Your mailbox is disconnected" in response.content.decode()
    assert witness.seen == [
        {
            "level": Organisation.SyncLevel.FULL,
            "state": MailboxConnection.State.DISCONNECTED,
            "credentials": {},
            "permission": IntegrationPermission.State.OFF,
        }
    ]
    assert Grant.objects.get(mailbox=world.recruiter_box).revoked_at is not None


def test_a_database_failure_while_disconnecting_revokes_nothing(gmail_world):
    world = gmail_world
    connection = world.connect()
    before = _snapshot(connection)

    with updates_refused(MailboxConnection, connection.pk), pytest.raises(DatabaseError):
        world.client.post(reverse("mailsync:disconnect"))

    assert _snapshot(connection) == before
    assert not world.log(operation="oauth2.revoke").exists()
    assert Grant.objects.get(mailbox=world.recruiter_box).revoked_at is None
    assert world.sync().status == "ok"


def test_a_running_session_cannot_store_tokens_again_after_the_switch(team, client_for, settings):
    """A sync that was running during the switch refreshes its token afterwards: the new
    token must not land on the row whose read grant was just forgotten."""
    settings.GOOGLE_REVOKE_URI = unreachable_url()
    connection = MailboxConnectionFactory(
        user=team.team_member, credentials=json.dumps({"refresh_token": "read-grant"})
    )
    running = MailboxTokenStore(connection.pk)

    _switch_to_limited(client_for, team)
    running.save({"refresh_token": "read-grant", "token": "refreshed"})

    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    assert _read_tokens_under_limited_sync() == []
