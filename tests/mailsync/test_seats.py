"""Seat changes, on Gmail and on Outlook. A seat is released when its user is deactivated
(Django admin's "Deactivate and revoke mailbox" action, or "Active" unticked on the user's
admin page) or removed from the organisation (operators); transferring a seat is releasing
it and inviting the new person as a user of their own. Then the user's connection is
revoked (tokens forgotten at once, revoked at the provider after the commit), Email,
Calendar and Contacts all stop, their imports and ingestion stop; their private threads
are kept but seen by no one, shared threads stay visible, and secret threads keep the
secret rule (Admins, Super Admins and active participants)."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import IntegrationPermission, User
from candidates.models import EmailThread
from mailsync.models import ImportJob, IngestionJob, MailboxConnection, PendingAuthorization
from mailsync.policy import feature_status, mailbox_status
from mailsync.services import SEAT_RELEASED_REASON
from sandbox.models import Grant
from tests.factories import (
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _deactivate_in_admin(client, *users):
    return client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_and_revoke", "_selected_action": [str(u.pk) for u in users]},
    )


def _edit_in_admin(client, user: User, **changes):
    """Save the user's admin page with `changes` ("Active" is unticked by leaving it out)."""
    fields = {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "is_active": "on",
        **changes,
    }
    return client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {name: value for name, value in fields.items() if value is not None},
    )


def _assert_seat_released(world, user: User) -> None:
    connection = MailboxConnection.objects.select_related("user", "organisation").get(user=user)
    assert connection.state == MailboxConnection.State.DISCONNECTED
    assert json.loads(connection.credentials or "{}") == {}
    assert connection.deauthorized_at is not None
    assert connection.last_error == SEAT_RELEASED_REASON
    assert not mailbox_status(connection).may_read
    assert not mailbox_status(connection).may_send
    for kind in ("calendar", "contacts"):
        assert not feature_status(connection.user, kind, connection).allowed
    assert set(IntegrationPermission.objects.filter(user=user).values_list("state", flat=True)) == {
        IntegrationPermission.State.OFF
    }
    assert world.sync().status == "not_connected"
    if world.kit.name == "google":
        # Revoked at Google once the admin's change committed.
        assert world.log(operation="oauth2.revoke").exists()
        assert not Grant.objects.filter(mailbox=world.recruiter_box, revoked_at=None).exists()


def test_admin_deactivates_a_user_and_their_mailbox_calendar_and_contacts_stop(world, client_for):
    connection = world.connect(calendar=True, contacts=True)
    assert feature_status(world.recruiter, "calendar", connection).allowed
    now = timezone.now()
    job = ImportJob.objects.create(
        user=world.recruiter, candidate=world.candidate, mailbox=connection
    )
    ingestion = IngestionJob.objects.create(
        mailbox=connection, since=now - timedelta(days=365), active_since=now
    )
    PendingAuthorization.objects.create(
        user=world.recruiter, provider=connection.provider, state="pending", flow_state="{}"
    )

    response = _deactivate_in_admin(client_for(world.team.admin), world.recruiter)

    assert response.status_code == 302
    assert not User.objects.get(pk=world.recruiter.pk).is_active
    _assert_seat_released(world, world.recruiter)
    job.refresh_from_db()
    ingestion.refresh_from_db()
    assert job.state == ImportJob.State.CANCELLED
    assert ingestion.state == IngestionJob.State.CANCELLED
    assert not PendingAuthorization.objects.filter(user=world.recruiter).exists()


def test_unticking_active_on_the_admin_page_releases_the_seat(world, client_for):
    connection = world.connect()
    admin = client_for(world.team.admin)

    # Saving the page of an active user changes nothing of their mailbox...
    assert _edit_in_admin(admin, world.recruiter, full_name="Renamed").status_code == 302
    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.CONNECTED
    assert json.loads(connection.credentials)
    assert world.sync().status == "ok"

    # ...unticking Active releases the seat.
    assert _edit_in_admin(admin, world.recruiter, is_active=None).status_code == 302
    assert not User.objects.get(pk=world.recruiter.pk).is_active
    _assert_seat_released(world, world.recruiter)


def test_operator_removing_a_user_from_the_organisation_releases_the_seat(world, client_for):
    world.connect()
    operator = User.objects.create_superuser("ops@installation.test", "pw-irrelevant")

    response = _edit_in_admin(client_for(operator), world.recruiter, organisation="")

    assert response.status_code == 302
    assert User.objects.get(pk=world.recruiter.pk).organisation_id is None
    _assert_seat_released(world, world.recruiter)


def test_admin_deactivates_only_whom_they_may(team, client_for):
    """An Admin may not deactivate a Super Admin or themselves (each refusal is said, and
    the rest of the selection goes ahead); a Team Member may not enter at all."""
    connections = {
        user.pk: MailboxConnectionFactory(user=user, credentials='{"token": "t"}')
        for user in (team.super_admin, team.admin, team.team_member)
    }
    refused = _deactivate_in_admin(client_for(team.team_member), team.limited)
    assert refused.status_code == 403

    admin = client_for(team.admin)
    response = _deactivate_in_admin(admin, team.super_admin, team.admin, team.team_member)

    assert response.status_code == 302
    said = admin.get(response["Location"]).content.decode()
    assert "You may not deactivate super_admin@acme.test." in said
    assert "You cannot deactivate your own account." in said
    assert "Deactivated 1 user(s)" in said
    for user in (team.super_admin, team.admin):
        connection = MailboxConnection.objects.get(pk=connections[user.pk].pk)
        assert connection.user.is_active
        assert connection.state == MailboxConnection.State.CONNECTED
        assert json.loads(connection.credentials) == {"token": "t"}
    released = MailboxConnection.objects.get(pk=connections[team.team_member.pk].pk)
    assert not released.user.is_active
    assert released.state == MailboxConnection.State.DISCONNECTED
    assert User.objects.get(pk=team.limited.pk).is_active


# --- What the others see afterwards ---------------------------------------------------------


@pytest.fixture
def departing_threads(team):
    """The team member's private, shared and secret threads with the same candidate."""
    colleague = UserFactory(organisation=team.organisation, email="colleague@acme.test")
    threads = {}
    for visibility, subject in [
        (EmailThread.Visibility.PRIVATE, "Private salary talk"),
        (EmailThread.Visibility.TEAM, "Shared scheduling"),
        (EmailThread.Visibility.SECRET, "Secret counter-offer"),
    ]:
        thread = EmailThreadFactory(
            candidate=team.candidate_on_my_posting,
            owner=team.team_member,
            visibility=visibility,
            subject=subject,
        )
        if visibility == EmailThread.Visibility.SECRET:
            thread.made_secret_by = team.team_member
            thread.visibility_before_secret = EmailThread.Visibility.PRIVATE
            thread.save()
        EmailMessageFactory(thread=thread, direction="outbound", sender=team.team_member)
        threads[visibility] = thread
    return colleague, threads


# Who sees which of the departed user's threads: (private, shared, secret).
AFTERWARDS = {
    "super_admin": (False, True, True),
    "admin": (False, True, True),
    "colleague": (False, True, False),
}


@pytest.mark.parametrize("who", AFTERWARDS)
def test_after_deactivation_private_threads_are_seen_by_no_one_and_shared_ones_stay(
    team, departing_threads, client_for, who
):
    colleague, threads = departing_threads
    assert _deactivate_in_admin(client_for(team.admin), team.team_member).status_code == 302
    assert not User.objects.get(pk=team.team_member.pk).is_active

    viewer = colleague if who == "colleague" else team.by_role(who)
    page = client_for(viewer).get(
        reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk])
    )

    assert page.status_code == 200
    body = page.content.decode()
    private, shared, secret = AFTERWARDS[who]
    assert ("Private salary talk" in body) is private
    assert ("Shared scheduling" in body) is shared
    assert ("Secret counter-offer" in body) is secret
    # Kept for retention, not deleted.
    assert EmailThread.objects.filter(pk=threads[EmailThread.Visibility.PRIVATE].pk).exists()
    # The departed user cannot sign in to see them either.
    assert client_for(team.team_member).get(reverse("candidates:list")).status_code in (302, 403)
