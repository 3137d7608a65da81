"""Limited sync end to end, on Gmail and on Outlook: send-only authorization, sending with
nothing read, the switch from full sync, and replies that come back through the customer's
routing rule (played by the sandbox) and Mailgun's webhook."""

from django.urls import reverse

from accounts.models import IntegrationPermission, Organisation
from candidates.models import EmailMessage, EmailThread
from inbound.models import DailyTally
from mailsync.models import MailboxConnection
from mailsync.selectors import mailboxes_to_sync
from mailsync.sending import Draft
from mailsync.services import message_send
from sandbox import routing
from sandbox.mailgun import signed_fields
from sandbox.models import Grant, Message, RequestLog

READ_SCOPES = {
    "https://mail.google.com/",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/gmail.metadata",
    "Mail.Read",
    "Mail.ReadWrite",
    "Mail.ReadBasic",
    "MailboxSettings.ReadWrite",
}
SEND_ONLY = {
    "google": {
        "https://www.googleapis.com/auth/gmail.send",
        "https://www.googleapis.com/auth/userinfo.email",
    },
    "microsoft": {"Mail.Send", "User.Read"},
}
# Whatever reads mail or changes a mailbox; sending is neither.
READING_OPERATIONS = (
    "gmail.users.messages.get",
    "gmail.users.messages.list",
    "gmail.users.history.list",
    "gmail.users.threads.get",
    "gmail.users.labels",
    "gmail.users.messages.modify",
    "gmail.users.messages.batchModify",
    "graph.messages.get",
    "graph.messages.list",
    "graph.messages.delta",
    "graph.messages.update",
    "graph.messages.create",
    "graph.categories",
)


def _scopes(text: str) -> set[str]:
    """Scope names as the consent asked for them, Graph's without their resource prefix."""
    return {scope.removeprefix("https://graph.microsoft.com/") for scope in text.split()}


def _limited(world) -> Organisation:
    organisation = world.team.organisation
    organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    organisation.save(update_fields=["email_sync_level"])
    return organisation


def _route_replies_to_threadline(world, settings, live_server) -> None:
    """What the customer's mail admin does, with Mailgun's route behind the address."""
    settings.SANDBOX_MAILGUN_WEBHOOK_URL = f"{live_server.url}/anymail/mailgun/inbound_mime/"
    routing.routing_rule_set(
        domain=world.recruiter.email.rpartition("@")[2],
        also_deliver_to=world.team.organisation.inbound_address,
    )


def _send(world, body="Would you like to talk next week?") -> EmailMessage:
    return message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Platform Engineer", body_text=body),
    )


def test_authorization_asks_only_for_permission_to_send(world):
    _limited(world)

    connection = world.connect()

    assert connection.sync_level == Organisation.SyncLevel.LIMITED
    assert connection.account_address == world.recruiter.email
    assert connection.cursor == ""
    grant = Grant.objects.get(mailbox=world.recruiter_box)
    requested = _scopes(grant.scopes) - {"openid", "profile", "offline_access", "email"}
    assert requested == SEND_ONLY[world.kit.name]
    assert not READ_SCOPES & _scopes(grant.scopes)
    consented = RequestLog.objects.filter(
        operation__in=["oauth2.authorize", "identity.authorize"], status=302
    ).exclude(scopes="")
    assert consented.exists()
    assert all(not READ_SCOPES & _scopes(entry.scopes) for entry in consented)


def test_sending_under_limited_sync_reads_nothing_and_labels_nothing(world):
    _limited(world)
    world.connect()
    RequestLog.objects.all().delete()

    sent = _send(world)

    assert sent.status == EmailMessage.Status.SENT
    delivered = world.latest_in(world.candidate_box)
    assert delivered.subject == "Platform Engineer"
    assert dict(delivered.headers)["Message-ID"] == sent.message_id
    operations = set(world.log().values_list("operation", flat=True))
    assert operations & {"gmail.users.messages.send", "graph.sendMail"}
    assert not [op for op in operations if op.startswith(READING_OPERATIONS)]
    mailbox = Message.objects.filter(mailbox=world.recruiter_box)
    assert not any(world.kit.own_label_on(m) for m in mailbox)


def test_limited_connections_are_never_synced(world):
    _limited(world)
    connection = world.connect()
    _send(world)
    world.reply(world.candidate_box, world.recruiter.email, "Yes please.")
    RequestLog.objects.all().delete()

    report = world.sync()

    assert report.status == "send_only"
    assert connection.pk not in mailboxes_to_sync()
    assert not world.log().exists()
    assert EmailMessage.objects.filter(direction="inbound").count() == 0


def test_routed_replies_reach_the_profile(world, settings, live_server):
    _limited(world)
    world.connect()
    _route_replies_to_threadline(world, settings, live_server)
    first = _send(world)

    world.reply(world.candidate_box, world.recruiter.email, "Yes, Tuesday works for me.")
    world.reply(world.recruiter_box, world.candidate_address, "Great, see you Tuesday.")

    thread = EmailThread.objects.get(candidate=world.candidate)
    messages = {m.body_text.strip(): m for m in thread.messages.exclude(pk=first.pk)}
    assert set(messages) == {"Yes, Tuesday works for me.", "Great, see you Tuesday."}
    assert messages["Yes, Tuesday works for me."].direction == EmailMessage.Direction.INBOUND
    assert messages["Great, see you Tuesday."].sender == world.recruiter
    page = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
    assert "Yes, Tuesday works for me." in page.content.decode()
    forwards = RequestLog.objects.filter(operation="mailgun.routes.forward")
    assert set(forwards.values_list("status", flat=True)) == {200}
    tallies = DailyTally.objects.filter(organisation=world.team.organisation)
    assert tallies.get(outcome="stored").count == 2


def test_a_reply_seen_by_full_sync_and_then_routed_is_stored_once(world, client):
    connection = world.connect()
    _send(world)
    reply = world.reply(world.candidate_box, world.recruiter.email, "Count me in.")
    assert world.sync().stored == 1

    fields = signed_fields(
        raw=bytes(reply.raw),
        recipient=world.team.organisation.inbound_address,
        sender=world.candidate_address,
        signing_key="key-development-only-mailgun-signing",
    )
    response = client.post("/anymail/mailgun/inbound_mime/", fields)

    assert response.json()["status"] == "duplicate"
    assert EmailMessage.objects.filter(direction="inbound").count() == 1
    assert connection.synced_messages.count() == 2


def test_switching_to_limited_revokes_read_access_and_asks_users_to_reauthorize(world, client_for):
    connection = world.connect()
    assert connection.sync_level == Organisation.SyncLevel.FULL
    super_admin = client_for(world.team.super_admin)

    switch = {
        "form": "email_sync",
        "level": "limited",
        "routing_confirmed": "on",
        "microsoft_authorization_mode": "users",
    }
    asked = super_admin.post(reverse("inbound:company_settings"), switch)
    # The consequences first: nothing changes until the Super Admin confirms.
    assert "deauthorizes 1 user:" in asked.content.decode()
    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.CONNECTED

    response = super_admin.post(
        reverse("inbound:company_settings"),
        {**switch, "confirm_level_change": "on"},
        follow=True,
    )

    assert "Email access is Send only" in response.content.decode()
    assert "1 user was deauthorized and must re-authorize" in response.content.decode()
    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    assert connection.credentials == "{}"
    assert "Send only" in connection.last_error
    permission = IntegrationPermission.objects.get(user=world.recruiter, kind="email")
    assert permission.state == IntegrationPermission.State.NEEDS_REAUTHORIZATION
    if world.kit.name == "google":
        # Google revokes the whole grant; Microsoft has no per-app revocation for users.
        assert Grant.objects.get(mailbox=world.recruiter_box).revoked_at is not None
    banner = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert "re-authorize" in banner.lower()

    renewed = world.reauthorize()

    assert renewed.state == MailboxConnection.State.CONNECTED
    assert renewed.sync_level == Organisation.SyncLevel.LIMITED
    newest = Grant.objects.filter(mailbox=world.recruiter_box).latest("created_at")
    assert not READ_SCOPES & _scopes(newest.scopes)


def test_sync_now_and_the_manual_sync_are_refused_under_limited_sync(world):
    _limited(world)
    world.connect()

    response = world.client.post(reverse("mailsync:sync_now"), follow=True)

    assert "no permission to read mailboxes" in response.content.decode()
