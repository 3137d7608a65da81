"""What only Microsoft 365 has: admin consent, national clouds, categories and folders,
immutable ids, Retry-After, and refresh tokens that rotate (so one worker refreshes)."""

import json
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.urls import reverse

from accounts.models import Role
from candidates.models import EmailMessage
from mailsync.models import MailboxConnection
from mailsync.sending import Draft
from mailsync.services import message_send
from mailsync.tokens import open_session
from sandbox import services as sandbox
from sandbox.models import Message, RequestLog
from tests.factories import UserFactory


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _send(world):
    return message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Role at Acme", body_text="Hello"),
    )


def test_super_admin_grants_admin_consent_and_users_then_connect_without_a_consent_screen(
    outlook_world, client_for
):
    world = outlook_world
    organisation = world.team.organisation
    organisation.microsoft_authorization_mode = "admin"
    organisation.save()
    admin = client_for(world.team.super_admin)
    global_admin = UserFactory.build(email="it-admin@acme.test")
    sandbox.mailbox_create(address=global_admin.email, provider="microsoft")

    start = admin.post(reverse("mailsync:admin_consent"))
    consent_page = admin.get(_local(start["Location"]))
    back = admin.post(
        _local(start["Location"]), {"decision": "accept", "address": global_admin.email}
    )
    done = admin.get(_local(back["Location"]), follow=True)

    organisation.refresh_from_db()
    assert consent_page.status_code == 200
    assert "Admin consent granted" in done.content.decode()
    assert organisation.microsoft_tenant_id
    assert organisation.microsoft_admin_consent_at is not None
    user_start = world.client.post(
        reverse("mailsync:my_account"), {"full_name": "Riley", "email": "on"}
    )
    straight_back = world.client.get(_local(user_start["Location"]))
    assert straight_back.status_code == 302  # no consent screen for this user
    world.client.get(_local(straight_back["Location"]))
    connection = MailboxConnection.objects.get(user=world.recruiter)
    assert connection.state == MailboxConnection.State.CONNECTED


def test_only_super_admins_start_admin_consent(outlook_world, client_for):
    response = client_for(outlook_world.team.admin).post(reverse("mailsync:admin_consent"))

    assert response.status_code == 403
    assert "Only a Super Admin starts the organisation" in response.content.decode()
    assert not RequestLog.objects.filter(operation__startswith="identity.").exists()


def test_a_gcc_high_tenant_is_refused_with_a_clear_message(outlook_world, client_for):
    world = outlook_world
    government = UserFactory(
        organisation=world.team.organisation,
        role=Role.TEAM_MEMBER,
        email="recruiter@agency.gov.test",
    )
    sandbox.mailbox_create(address=government.email, provider="microsoft", gcc_high=True)
    client = client_for(government)

    start = client.post(reverse("mailsync:my_account"), {"full_name": "Gov", "email": "on"})
    back = client.post(_local(start["Location"]), {"decision": "accept"})
    page = client.get(_local(back["Location"]), follow=True).content.decode()

    assert "GCC High" in page
    assert not MailboxConnection.objects.filter(user=government).exists()


def test_a_reply_moved_to_another_folder_is_a_move_not_a_deletion(outlook_world):
    world = outlook_world
    world.connect()
    thread = _send(world).thread
    reply = world.reply(world.candidate_box, world.recruiter.email, "Filed away later")
    world.sync()
    in_box = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=reply.rfc822_msgid)
    archive = sandbox.folder_create(mailbox=world.recruiter_box, name="Candidates 2026")

    sandbox.message_move(message=in_box, folder=archive.provider_id)
    report = world.sync()

    assert report.status == "ok"
    assert EmailMessage.objects.filter(thread=thread, direction="inbound").count() == 1
    assert world.kit.own_label_on(Message.objects.get(pk=in_box.pk))


def test_import_search_covers_inbox_and_sent_items_but_not_sub_folders(outlook_world):
    world = outlook_world
    world.connect()
    kept = world.write(world.candidate_box, world.recruiter.email, "In the inbox", "Hi")
    filed = world.write(world.candidate_box, world.recruiter.email, "Filed", "Hi again")
    folder = sandbox.folder_create(mailbox=world.recruiter_box, name="Sorted")
    sandbox.message_move(
        message=Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=filed.rfc822_msgid),
        folder=folder.provider_id,
    )

    session = open_session(MailboxConnection.objects.get(user=world.recruiter))
    found, token = [], ""
    while True:  # every page, as the import job walks them
        page = session.search_page(world.candidate_address, token)
        found += page.refs
        token = page.next_token
        if not token:
            break

    in_inbox = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=kept.rfc822_msgid)
    assert [ref.id for ref in found] == [in_inbox.immutable_id]


def test_throttling_waits_as_long_as_retry_after_says(outlook_world, slept, settings):
    world = outlook_world
    world.connect()
    thread = _send(world).thread
    world.reply(world.candidate_box, world.recruiter.email, "Hi")
    sandbox.fault_set(mailbox=world.recruiter_box, count=2, status=429)
    # Our own backoff alone would wait well under a second, so waiting 1 s is Graph's word.
    settings.MAILSYNC_BACKOFF_BASE = 0.05

    report = world.sync()

    assert report.status == "ok"
    assert world.log(status=429).count() == 2
    assert slept == [1.0, 1.0]
    assert EmailMessage.objects.filter(thread=thread, direction="inbound").count() == 1


def _expire_access_token(connection: MailboxConnection) -> None:
    """Time passes: the stored access token is past its expiry, here and at Microsoft."""
    credentials = json.loads(connection.credentials)
    cache = json.loads(credentials["msal_cache"])
    past = str(int((datetime.now(UTC) - timedelta(minutes=5)).timestamp()))
    for entry in cache.get("AccessToken", {}).values():
        entry["expires_on"] = entry["extended_expires_on"] = past
        sandbox_token = entry["secret"]
    credentials["msal_cache"] = json.dumps(cache)
    MailboxConnection.objects.filter(pk=connection.pk).update(credentials=json.dumps(credentials))
    from sandbox import tokens

    tokens.token_expire(token=sandbox_token)


def test_two_workers_finding_the_token_expired_refresh_it_once(outlook_world):
    world = outlook_world
    connection = world.connect()
    _expire_access_token(connection)
    sessions = [open_session(MailboxConnection.objects.get(pk=connection.pk)) for _ in range(2)]
    addresses, errors = [], []

    def work(session):
        try:
            addresses.append(session.account_address())
        except Exception as error:  # collected for the assertion below
            errors.append(error)
        finally:
            from django.db import connection as db

            db.close()

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    refreshes = RequestLog.objects.filter(operation="identity.token.refresh_token").count()
    assert errors == []
    assert addresses == [world.recruiter.email, world.recruiter.email]
    assert refreshes == 1


def test_every_graph_call_asks_for_immutable_ids(outlook_world):
    world = outlook_world
    world.connect()
    _send(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi")
    world.write(world.candidate_box, world.recruiter.email, "Other", "Unrelated")

    world.sync()

    graph_calls = world.log(operation__startswith="graph.").exclude(operation="graph.batch")
    assert graph_calls.count() > 5
    assert not graph_calls.exclude(prefer__contains='IdType="ImmutableId"').exists()
