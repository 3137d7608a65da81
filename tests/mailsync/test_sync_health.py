"""Settings > Sync health, on both providers through the sandbox: each mailbox's real
state (never "Healthy" while it imports nothing), for Admins and Super Admins of its own
organisation only, with Sync now and Reset cursor audited, the stale flag shown to the
owner too, and the sweeper that frees leases of stopped workers."""

from datetime import timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from candidates.models import EmailMessage
from mailsync.models import MailboxConnection
from mailsync.selectors import mailboxes_to_sync
from mailsync.sending import Draft
from mailsync.services import message_send, sync_leases_sweep
from sandbox import services as sandbox
from sandbox.models import Mailbox
from tests.factories import MailboxConnectionFactory, OrganisationFactory, UserFactory

PAGE = "mailsync:sync_health"


def _started_thread(world):
    return message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject="Next steps", body_text="Hello"),
    ).thread


def _row(page: str, mailbox: MailboxConnection) -> str:
    start = page.index(f'id="mailbox-{mailbox.pk}"')
    return page[start : page.index("</tr>", start)]


def _health_page(world, client_for, **query) -> str:
    response = client_for(world.team.admin).get(reverse(PAGE), query)
    assert response.status_code == 200
    return response.content.decode()


def _connection(world) -> MailboxConnection:
    return MailboxConnection.objects.get(user=world.recruiter)


def test_a_mailbox_that_synced_is_healthy(world, client_for):
    world.connect()
    _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    assert world.sync().stored == 1

    row = _row(_health_page(world, client_for), _connection(world))

    assert "Healthy" in row
    assert world.recruiter.email in row
    assert ">1<" in row  # messages synced


def test_a_throttled_mailbox_says_until_when_and_beat_leaves_it_alone(world, client_for):
    world.connect()
    _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    # The provider's own limits, down to one request: the next round gets 429s whose
    # Retry-After is the rest of Google's minute or of Microsoft's ten minutes.
    Mailbox.objects.filter(pk=world.recruiter_box.pk).update(
        quota_per_minute=1, requests_per_ten_minutes=1
    )

    report = world.sync()

    connection = _connection(world)
    assert report.status == "failed"
    assert connection.throttled_until is not None
    assert connection.throttled_until > timezone.now()
    row = _row(_health_page(world, client_for), connection)
    assert "Throttled" in row and "Throttled until" in row
    assert "Healthy" not in row
    # Until then no round asks the provider again, however it is started.
    assert connection.pk not in mailboxes_to_sync()
    calls = world.log().count()
    assert world.sync().status == "throttled"
    assert world.log().count() == calls

    # Once the time has passed and the provider answers, the round succeeds and clears it.
    Mailbox.objects.filter(pk=world.recruiter_box.pk).update(
        quota_per_minute=None, requests_per_ten_minutes=None
    )
    MailboxConnection.objects.filter(pk=connection.pk).update(
        throttled_until=timezone.now() - timedelta(seconds=1)
    )
    assert world.sync().stored == 1
    connection.refresh_from_db()
    assert connection.throttled_until is None and connection.failing_since is None
    assert "Healthy" in _row(_health_page(world, client_for), connection)


def test_a_revoked_mailbox_needs_re_authorization(world, client_for):
    world.connect()
    world.revoke_grant()
    world.sync()

    row = _row(_health_page(world, client_for, state="needs_reauthorization"), _connection(world))

    assert "Needs re-authorization" in row
    assert "Healthy" not in row
    assert "Sync now" not in row  # only its owner can mend it


def test_a_failing_mailbox_says_since_when_until_a_round_succeeds(world, client_for, slept):
    world.connect()
    _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    sandbox.fault_set(mailbox=world.recruiter_box, count=500, status=503)

    first, second = world.sync(), world.sync()

    connection = _connection(world)
    assert first.status == second.status == "failed"
    failing_since = connection.failing_since
    assert failing_since is not None
    assert connection.last_error_at > failing_since  # dated by the first failure, kept
    row = _row(_health_page(world, client_for), connection)
    assert "Failing since" in row and "The provider is busy" in row

    sandbox.fault_set(mailbox=world.recruiter_box, count=0)
    assert world.sync().stored == 1
    connection.refresh_from_db()
    assert connection.failing_since is None
    assert "Healthy" in _row(_health_page(world, client_for), connection)


def test_no_successful_sync_for_three_intervals_is_flagged_here_and_to_the_owner(
    world, client_for, settings
):
    world.connect()
    assert world.sync().status == "ok"
    connection = _connection(world)
    later = timezone.now() + timedelta(seconds=3 * settings.MAILSYNC_INTERVAL_SECONDS + 5)

    with time_machine.travel(later, tick=False):
        page = _health_page(world, client_for)
        mine = world.client.get(reverse("mailsync:my_account")).content.decode()

    row = _row(page, connection)
    assert "No recent sync" in row and "row-stale flagged" in row
    assert 'id="health-flagged"' in page
    assert 'id="mailbox-sync-health"' in mine and "No successful sync since" in mine
    # Within the intervals, neither says anything.
    assert (
        'id="mailbox-sync-health"'
        not in world.client.get(reverse("mailsync:my_account")).content.decode()
    )


def test_sync_now_is_audited_and_runs_a_round(world, client_for, tasks_in_process):
    world.connect()
    _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "Hi back")
    connection = _connection(world)
    admin = client_for(world.team.admin)

    response = admin.post(
        reverse("mailsync:sync_health_action", args=[connection.pk, "sync"]),
        {"query": "provider=" + world.kit.name},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{reverse(PAGE)}?provider={world.kit.name}"
    assert EmailMessage.objects.filter(direction="inbound").count() == 1
    entry = LogEntry.objects.get_for_object(world.team.organisation).latest("timestamp")
    assert entry.actor == world.team.admin
    assert entry.additional_data == {"event": "sync_requested", "mailbox": connection.pk}
    assert "Hi back" not in str(entry.changes)


def test_reset_cursor_recovers_without_loss_or_duplicates(world, client_for, tasks_in_process):
    world.connect()
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "First")
    assert world.sync().stored == 1
    # A reply arrives, then an admin resets the cursor before any round has read it.
    world.reply(world.candidate_box, world.recruiter.email, "Second")
    connection = _connection(world)

    client_for(world.team.admin).post(
        reverse("mailsync:sync_health_action", args=[connection.pk, "reset"])
    )

    bodies = sorted(
        m.body_text.strip() for m in EmailMessage.objects.filter(thread=thread, direction="inbound")
    )
    assert bodies == ["First", "Second"]
    connection.refresh_from_db()
    assert connection.cursor  # a fresh one, taken by the recovery round
    entry = LogEntry.objects.get_for_object(world.team.organisation).latest("timestamp")
    assert entry.additional_data["event"] == "cursor_reset"
    assert world.sync().stored == 0


@pytest.mark.parametrize("role", ["team_member", "limited"])
def test_members_may_not_see_or_act(team, client_for, role):
    mailbox = MailboxConnectionFactory.create(user=team.team_member)
    client = client_for(getattr(team, role))

    assert client.get(reverse(PAGE)).status_code == 403
    action = reverse("mailsync:sync_health_action", args=[mailbox.pk, "sync"])
    assert client.post(action).status_code == 403
    assert "Sync health" not in client.get(reverse("candidates:list")).content.decode()


def test_super_admins_and_admins_see_only_their_organisations_mailboxes(team, client_for):
    ours = MailboxConnectionFactory.create(user=team.team_member)
    other_organisation = OrganisationFactory.create()
    theirs = MailboxConnectionFactory.create(
        user=UserFactory.create(organisation=other_organisation), cursor="their-cursor"
    )

    for who in (team.admin, team.super_admin):
        client = client_for(who)
        page = client.get(reverse(PAGE)).content.decode()
        assert f'id="mailbox-{ours.pk}"' in page
        assert f'id="mailbox-{theirs.pk}"' not in page
        assert theirs.account_address not in page
        refused = client.post(
            reverse("mailsync:sync_health_action", args=[theirs.pk, "reset"]), follow=True
        )
        assert "No such mailbox in your organisation" in refused.content.decode()
    theirs.refresh_from_db()
    assert theirs.cursor == "their-cursor"  # untouched


def test_filters_by_state_provider_and_person(team, client_for):
    healthy = MailboxConnectionFactory.create(user=team.team_member, last_synced_at=timezone.now())
    failing = MailboxConnectionFactory.create(
        user=team.admin,
        provider=MailboxConnection.Provider.MICROSOFT,
        last_synced_at=timezone.now(),
        failing_since=timezone.now(),
    )
    client = client_for(team.super_admin)

    def shown(**query) -> set[int]:
        page = client.get(reverse(PAGE), query).content.decode()
        return {m.pk for m in (healthy, failing) if f'id="mailbox-{m.pk}"' in page}

    assert shown() == {healthy.pk, failing.pk}
    assert shown(state="failing") == {failing.pk}
    assert shown(state="healthy") == {healthy.pk}
    assert shown(q=team.team_member.full_name[:5]) == {healthy.pk}
    assert shown(provider="microsoft") == {failing.pk}
    assert shown(state="nonsense") == {healthy.pk, failing.pk}


def test_the_page_costs_the_same_queries_for_one_or_many_mailboxes(
    team, client_for, django_assert_max_num_queries
):
    client = client_for(team.admin)
    MailboxConnectionFactory.create(user=team.team_member)
    with django_assert_max_num_queries(20) as one:
        client.get(reverse(PAGE))
    for _ in range(10):
        MailboxConnectionFactory.create(user=UserFactory.create(organisation=team.organisation))
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(reverse(PAGE))


def test_the_sweeper_frees_a_dead_workers_lease_and_keeps_a_live_one(team):
    now = timezone.now()
    dead = MailboxConnectionFactory.create(
        user=team.team_member, sync_claim="dead", sync_claimed_until=now - timedelta(minutes=1)
    )
    live = MailboxConnectionFactory.create(
        user=team.admin, sync_claim="live", sync_claimed_until=now + timedelta(minutes=5)
    )

    assert sync_leases_sweep() == 1

    dead.refresh_from_db()
    live.refresh_from_db()
    assert (dead.sync_claim, dead.sync_claimed_until) == ("", None)
    assert live.sync_claim == "live"


def test_each_round_logs_one_line_of_ids_counts_and_timings_and_nothing_of_the_mail(world, caplog):
    world.connect()
    thread = _started_thread(world)
    world.reply(world.candidate_box, world.recruiter.email, "A very private answer")
    connection = _connection(world)

    with caplog.at_level("INFO", logger="mailsync.rounds"):
        world.sync()

    [record] = [r for r in caplog.records if r.name == "mailsync.rounds"]
    fields = record.sync_round
    assert fields["mailbox"] == connection.pk
    assert fields["provider"] == world.kit.name
    assert (fields["status"], fields["stored"], fields["of_interest"]) == ("ok", 1, 1)
    assert fields["requests"] >= 2 and fields["duration_ms"] >= 0
    # Each request costs at least one unit; a batch costs one per part.
    assert fields["quota_units"] >= fields["requests"]
    line = record.getMessage()
    assert line.startswith("sync_round ") and f"mailbox={connection.pk}" in line
    assert "stored=1" in line and f"requests={fields['requests']}" in line
    for private in (
        world.recruiter.email,
        world.candidate_address,
        thread.subject,
        "A very private answer",
        "@",
    ):
        assert private not in line
        assert private not in str(fields)


def test_the_demo_shows_a_throttled_and_a_revoked_mailbox(
    transactional_db, settings, live_server, client_for
):
    """`make run`'s seed: two Acme mailboxes the sandbox throttles and revokes, whose
    states on the page come from real rounds (one each here, as beat would run)."""
    import io

    from django.core.management import call_command

    from accounts.models import User
    from demo.sync_health import REVOKED, THROTTLE_SECONDS, THROTTLED
    from mailsync.services import mailbox_sync
    from tests.mailsync.conftest import _point_providers_at_the_sandbox

    _point_providers_at_the_sandbox(settings, live_server, None)
    call_command("seed_demo", stdout=io.StringIO())
    throttled = MailboxConnection.objects.get(user__email=THROTTLED)
    revoked = MailboxConnection.objects.get(user__email=REVOKED)
    before = timezone.now()

    assert mailbox_sync(mailbox_id=throttled.pk).status == "failed"
    assert mailbox_sync(mailbox_id=revoked.pk).status == "failed"
    # The next round leaves the throttled mailbox alone, as the provider asked.
    assert mailbox_sync(mailbox_id=throttled.pk).status == "throttled"

    throttled.refresh_from_db()
    assert throttled.throttled_until is not None
    assert throttled.throttled_until >= before + timedelta(seconds=THROTTLE_SECONDS)
    admin = User.objects.get(email="admin@demo.test")
    page = client_for(admin).get(reverse(PAGE)).content.decode()
    throttled_row, revoked_row = _row(page, throttled), _row(page, revoked)
    assert "Throttled until" in throttled_row and THROTTLED in throttled_row
    assert "Needs re-authorization" in revoked_row and REVOKED in revoked_row
    # A second seed connects nothing again and leaves the states alone.
    call_command("seed_demo", stdout=io.StringIO())
    assert MailboxConnection.objects.filter(user__email__in=[THROTTLED, REVOKED]).count() == 2
    revoked.refresh_from_db()
    assert revoked.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
