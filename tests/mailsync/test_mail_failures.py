"""Bad days at the provider: throttling, server errors, expired cursors, revoked grants,
denied consent, crashed workers. Nothing is lost and nothing is stored twice."""

import json
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.urls import reverse

from accounts.models import IntegrationPermission, Organisation
from candidates.models import EmailMessage, EmailThread
from mailsync.models import MailboxConnection, SyncedMessage
from mailsync.sending import Draft
from mailsync.services import mailbox_sync, message_send
from sandbox import services as sandbox
from sandbox import tokens
from tests.factories import MailboxConnectionFactory
from tests.mailsync.helpers import child_environment


def _started_thread(world):
    world.connect()
    return message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Next steps", body_text="Hello"),
    ).thread


def test_a_burst_of_429s_is_retried_and_the_reply_still_arrives(world, slept):
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    sandbox.fault_set(mailbox=world.recruiter_box, count=3, status=429)

    report = world.sync()

    assert report.status == "ok"
    assert EmailMessage.objects.filter(thread=thread, direction="inbound").count() == 1
    assert world.log(status=429).count() == 3
    # Each 429 said Retry-After: 1, and each retry waited exactly that.
    assert slept == [1.0, 1.0, 1.0]


def test_a_burst_of_500s_is_retried_with_growing_backoff(world, slept, settings):
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    sandbox.fault_set(mailbox=world.recruiter_box, count=2, status=500)

    report = world.sync()

    assert report.status == "ok"
    assert EmailMessage.objects.filter(thread=thread, direction="inbound").count() == 1
    # No Retry-After on a 500: our jittered exponential backoff, within its bounds.
    base = settings.MAILSYNC_BACKOFF_BASE
    assert len(slept) == 2
    assert base / 2 <= slept[0] <= base
    assert base <= slept[1] <= 2 * base


def test_an_outage_longer_than_the_retries_gives_up_for_the_round_and_says_so(
    world, slept, settings
):
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    cursor_before = MailboxConnection.objects.get(user=world.recruiter).cursor
    sandbox.fault_set(mailbox=world.recruiter_box, count=50, status=503)

    failed = world.sync()
    connection = MailboxConnection.objects.get(user=world.recruiter)
    sandbox.fault_set(mailbox=world.recruiter_box, count=0)
    recovered = world.sync()

    assert failed.status == "failed"
    # Bounded: the round gave up after its attempts, not after the outage.
    assert len(slept) == settings.MAILSYNC_MAX_ATTEMPTS - 1
    assert connection.cursor == cursor_before
    assert "try again" in connection.last_error
    assert connection.state == MailboxConnection.State.CONNECTED
    assert recovered.status == "ok"
    assert EmailMessage.objects.filter(thread=thread, direction="inbound").count() == 1
    assert MailboxConnection.objects.get(user=world.recruiter).last_error == ""


def test_a_revoked_grant_marks_the_connection_and_tells_the_user(world):
    _started_thread(world)
    connection = MailboxConnection.objects.get(user=world.recruiter)
    world.revoke_grant()

    report = world.sync()
    again = world.sync()
    page = world.client.get(reverse("candidates:list")).content.decode()

    connection.refresh_from_db()
    assert report.status == "failed"
    assert again.status == "not_connected"
    assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    assert IntegrationPermission.objects.get(user=world.recruiter, kind="email").state == (
        IntegrationPermission.State.NEEDS_REAUTHORIZATION
    )
    assert "Re-authorize it" in page
    settings_page = world.client.get(reverse("mailsync:my_account")).content.decode()
    assert "Needs re-authorization" in settings_page


def test_denying_consent_brings_the_user_back_with_a_clear_message(world):
    start = world.client.post(reverse("mailsync:my_account"), {"full_name": "Riley", "email": "on"})
    consent = start["Location"].split("://", 1)[1].split("/", 1)[1]
    declined = {"google": "deny", "microsoft": "cancel"}[world.kit.name]

    back = world.client.post(f"/{consent}", {"decision": declined})
    page = world.client.get(back["Location"].split("testserver", 1)[-1], follow=True)

    assert "You declined access" in page.content.decode()
    assert not MailboxConnection.objects.filter(user=world.recruiter).exists()
    assert IntegrationPermission.objects.get(user=world.recruiter, kind="email").state == "off"


def test_unticking_email_revokes_the_grant_at_google(gmail_world):
    world = gmail_world
    connection = world.connect()
    refresh_token = json.loads(connection.credentials)["refresh_token"]

    world.client.post(reverse("mailsync:my_account"), {"full_name": "Riley"})

    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.DISCONNECTED
    assert world.log(operation="oauth2.revoke", status=200).exists()
    assert tokens.token_authenticate(refresh_token) is None


def test_an_expired_cursor_is_recovered_without_losing_replies(world):
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "First reply")
    expire = {"google": sandbox.history_expire, "microsoft": sandbox.delta_expire}
    expire[world.kit.name](mailbox=world.recruiter_box)

    report = world.sync()

    assert report.recovered
    assert report.status == "ok"
    assert EmailMessage.objects.filter(thread=thread, direction="inbound").count() == 1
    world.reply(world.candidate_box, world.recruiter.email, "Second reply")
    assert world.sync().stored == 1


def test_a_crash_after_storing_part_of_a_run_resumes_without_loss_or_duplicates(world):
    thread = _started_thread(world)
    for n in range(3):
        world.reply(world.candidate_box, world.recruiter.email, f"Reply {n}")
    connection = MailboxConnection.objects.get(user=world.recruiter)
    cursor_before = connection.cursor
    world.sync()
    # The state a worker killed before its cursor update leaves behind: some messages
    # committed, the cursor where it was, and its lease still on the row (now expired).
    kept = EmailMessage.objects.filter(thread=thread, direction="inbound").order_by("pk")
    kept.last().delete()
    MailboxConnection.objects.filter(pk=connection.pk).update(
        cursor=cursor_before,
        sync_claim="dead-worker",
        sync_claimed_until="2000-01-01T00:00:00Z",
    )

    report = world.sync()

    assert report.status == "ok"
    bodies = sorted(
        m.body_text.strip() for m in EmailMessage.objects.filter(thread=thread, direction="inbound")
    )
    assert bodies == ["Reply 0", "Reply 1", "Reply 2"]
    assert SyncedMessage.objects.filter(mailbox=connection).count() == 4


def test_a_killed_worker_keeps_others_off_until_its_lease_expires(gmail_world):
    world = gmail_world
    _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Reply")
    connection = MailboxConnection.objects.get(user=world.recruiter)
    # The next API call hangs, so the worker is surely mid-run when it is killed.
    hang_seconds = 8
    sandbox.fault_set(mailbox=world.recruiter_box, count=1, delay=hang_seconds)
    env = child_environment(MAILSYNC_LEASE_SECONDS="3")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "sync_mailboxes"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        connection.refresh_from_db()
        if connection.sync_claim:
            break
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = time.monotonic()

    while_leased = mailbox_sync(mailbox_id=connection.pk)
    time.sleep(3.5)
    sandbox.fault_set(mailbox=world.recruiter_box, count=0)
    after_expiry = mailbox_sync(mailbox_id=connection.pk)

    assert connection.sync_claim
    assert while_leased.status == "busy"
    assert after_expiry.status == "ok"
    assert EmailMessage.objects.filter(direction="inbound").count() == 1
    # The live server still answers the dead worker's hung call: let it finish while this
    # test's rows exist, or it fails later, inside whichever test is running then.
    time.sleep(max(0.0, killed_at + hang_seconds + 1 - time.monotonic()))


def test_a_send_the_provider_refuses_shows_why_and_leaves_nothing_behind(world):
    world.connect()
    world.sync()
    sandbox.fault_set(mailbox=world.recruiter_box, count=1, status=503)

    response = world.client.post(
        reverse("mailsync:email_send", args=[world.candidate.pk]),
        {"to": world.candidate_address, "subject": "Hello", "body_text": "Are you free?"},
    )

    assert response.status_code == 200
    assert "did not accept the message" in response.content.decode()
    assert "Are you free?" in response.content.decode()
    assert not EmailMessage.objects.exists()
    assert not EmailThread.objects.exists()


def test_with_email_off_the_banner_says_why_instead_of_offering_re_authorization(team, client_for):
    for user in (team.team_member, team.super_admin):
        MailboxConnectionFactory.create(
            user=user, state=MailboxConnection.State.NEEDS_REAUTHORIZATION
        )
    team.organisation.email_sync_level = Organisation.SyncLevel.OFF
    team.organisation.save(update_fields=["email_sync_level"])

    def banner(user) -> str:
        page = client_for(user).get(reverse("candidates:list")).content.decode()
        return page[page.index('id="reauth-banner"') :].split("</div>", 1)[0]

    member, super_admin = banner(team.team_member), banner(team.super_admin)
    assert "Re-authorize it" not in member + super_admin
    assert "Your company has turned Email off" in member
    assert "turn it on under Settings › Company" in super_admin

    team.organisation.email_sync_level = Organisation.SyncLevel.FULL
    team.organisation.save(update_fields=["email_sync_level"])
    assert "Re-authorize it" in banner(team.team_member)
