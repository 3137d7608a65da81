"""Automatic ingestion as people see it: the company switch on Settings > Company (Super
Admins, only at the levels that read mail, audited), and on My account the user's own job
(counts per rule, polled while it runs, nobody else's) and "why wasn't a conversation
synced?" with their own dates. Jobs are rows made here: the engine is tested elsewhere."""

from datetime import UTC, datetime

import pytest
import time_machine
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils.html import escape

from accounts.models import Organisation
from mailsync.ingestion_rules import SkipRule
from mailsync.models import IngestionJob
from tests.factories import MailboxConnectionFactory

SETTINGS = "inbound:company_settings"
MY_ACCOUNT = "mailsync:my_account"
SWITCH = 'name="auto_ingestion_enabled"'


def _set_level(organisation, level: str, *, ingestion: bool = False) -> None:
    organisation.email_sync_level = level
    organisation.auto_ingestion_enabled = ingestion
    organisation.save()


def _post_switch(client, on: bool):
    data = {"form": "auto_ingestion"}
    if on:
        data["auto_ingestion_enabled"] = "on"
    return client.post(reverse(SETTINGS), data)


def _job(user, **fields) -> IngestionJob:
    mailbox = MailboxConnectionFactory.create(user=user)
    fields.setdefault("since", datetime(2025, 1, 10, 9, tzinfo=UTC))
    fields.setdefault("active_since", datetime(2025, 7, 10, 9, tzinfo=UTC))
    return IngestionJob.objects.create(mailbox=mailbox, **fields)


# --- Settings > Company -----------------------------------------------------------------


@pytest.mark.parametrize("level", ["view", "full"])
def test_super_admin_is_offered_the_switch_and_its_rules_at_levels_that_read(
    team, client_for, level
):
    _set_level(team.organisation, level)

    page = client_for(team.super_admin).get(reverse(SETTINGS)).content.decode()

    section = page.split('id="auto-ingestion"')[1].split("</section>")[0]
    assert SWITCH in section
    assert "checked" not in section.split(SWITCH)[1].split(">")[0]  # off by default
    for rule in SkipRule:
        assert escape(rule.label) in section
    assert "from up to a year before each user authorizes" in section
    assert "Private to the user, who can share them" in section


@pytest.mark.parametrize(("level", "label"), [("limited", "Send only"), ("off", "Off")])
def test_super_admin_is_told_why_the_switch_is_unavailable(team, client_for, level, label):
    _set_level(team.organisation, level)

    page = client_for(team.super_admin).get(reverse(SETTINGS)).content.decode()

    section = page.split('id="auto-ingestion"')[1].split("</section>")[0]
    assert SWITCH not in section
    assert f"Not available at your email access level, <strong>{label}</strong>" in section


def test_super_admin_turns_automatic_ingestion_on_and_the_change_is_audited(team, client_for):
    _set_level(team.organisation, "view")

    client = client_for(team.super_admin)
    response = _post_switch(client, on=True)

    assert response.status_code == 302
    assert response["Location"].endswith("#auto-ingestion")
    organisation = Organisation.objects.get(pk=team.organisation.pk)
    assert organisation.auto_ingestion_enabled is True
    entry = LogEntry.objects.get_for_object(organisation).latest("timestamp")
    assert entry.actor == team.super_admin
    assert entry.changes_dict["auto_ingestion_enabled"] == ["False", "True"]
    page = client.get(reverse(SETTINGS)).content.decode()
    assert "Automatic ingestion is on" in page
    assert "checked" in page.split(SWITCH)[1].split(">")[0]


def test_super_admin_turns_automatic_ingestion_off(team, client_for):
    _set_level(team.organisation, "full", ingestion=True)

    response = _post_switch(client_for(team.super_admin), on=False)

    assert response.status_code == 302
    team.organisation.refresh_from_db()
    assert team.organisation.auto_ingestion_enabled is False


def test_a_post_at_send_only_cannot_turn_it_on(team, client_for):
    _set_level(team.organisation, "limited")

    response = _post_switch(client_for(team.super_admin), on=True)

    assert response.status_code == 200
    assert "offered only at the View only and" in response.content.decode()
    team.organisation.refresh_from_db()
    assert team.organisation.auto_ingestion_enabled is False


@pytest.mark.parametrize("role", ["admin", "team_member", "limited"])
def test_only_super_admins_turn_automatic_ingestion_on(team, client_for, role):
    _set_level(team.organisation, "full")

    response = _post_switch(client_for(team.by_role(role)), on=True)

    assert response.status_code == 403
    team.organisation.refresh_from_db()
    assert team.organisation.auto_ingestion_enabled is False
    # The same post from the Super Admin takes effect: the 403 is the role, not the form.
    assert _post_switch(client_for(team.super_admin), on=True).status_code == 302
    team.organisation.refresh_from_db()
    assert team.organisation.auto_ingestion_enabled is True


# --- My account: the job's progress ---------------------------------------------------------


def test_my_account_shows_my_finished_job_with_its_counts_per_rule(team, client_for):
    job = _job(
        team.team_member,
        state=IngestionJob.State.DONE,
        found=31,
        ingested=12,
        messages_ingested=47,
        already_there=2,
        skipped_group=5,
        skipped_own_domain=4,
        skipped_not_candidate=3,
        skipped_inactive=1,
        skipped_unreadable=4,
        started_at=datetime(2026, 3, 1, 8, 5, tzinfo=UTC),
        finished_at=datetime(2026, 3, 1, 8, 40, tzinfo=UTC),
    )

    page = client_for(team.team_member).get(reverse(MY_ACCOUNT)).content.decode()

    panel = page.split('id="ingestion-panel"')[1].split('id="why-not-synced"')[0]
    assert "<h3>Finished</h3>" in panel
    for count, value in [
        ("found", 31),
        ("ingested", 12),
        ("messages_ingested", 47),
        ("already_there", 2),
        ("unreadable", 4),
        ("skipped_group", 5),
        ("skipped_own_domain", 4),
        ("skipped_not_candidate", 3),
        ("skipped_inactive", 1),
    ]:
        assert f'data-count="{count}">{value}<' in panel
    for rule in SkipRule:
        item = page.split(f'<li data-rule="{rule.value}"><strong')[1].split("</li>")[0]
        assert escape(rule.label) in item
    assert "Started 1 Mar 2026, 08:05 · finished 1 Mar 2026, 08:40" in page
    # Ended: nothing polls.
    assert "hx-trigger" not in page.split('id="ingestion-panel"')[1].split(">")[0]
    assert reverse("mailsync:ingestion_progress", args=[job.pk]) not in page


def test_no_panel_when_my_mailbox_has_no_job(team, client_for):
    MailboxConnectionFactory(user=team.team_member)
    _job(team.admin, state=IngestionJob.State.RUNNING, found=9)

    page = client_for(team.team_member).get(reverse(MY_ACCOUNT)).content.decode()

    assert 'id="ingestion-panel"' not in page
    assert "Why wasn't a conversation synced?" in page


def test_a_running_job_is_polled_every_two_seconds_until_it_is_done(team, client_for):
    client = client_for(team.team_member)
    job = _job(team.team_member, state=IngestionJob.State.RUNNING, found=10, ingested=3)
    progress = reverse("mailsync:ingestion_progress", args=[job.pk])

    # The page itself polls (so a reload keeps polling), and so does each answer.
    page = client.get(reverse(MY_ACCOUNT)).content.decode()
    assert f'hx-get="{progress}" hx-trigger="every 2s" hx-swap="outerHTML"' in page
    running = client.get(progress, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in running
    assert 'data-count="ingested">3<' in running
    assert "<html" not in running  # the partial alone

    IngestionJob.objects.filter(pk=job.pk).update(
        state=IngestionJob.State.DONE, ingested=8, finished_at=datetime.now(UTC)
    )
    done = client.get(progress, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="ingestion-panel"' in done
    assert "hx-trigger" not in done
    assert 'data-count="ingested">8<' in done


@pytest.mark.parametrize("who", ["super_admin", "admin", "limited", "outsider"])
def test_nobody_but_the_owner_reads_a_jobs_progress(team, other_team, client_for, who):
    job = _job(team.team_member, state=IngestionJob.State.RUNNING, found=10)
    progress = reverse("mailsync:ingestion_progress", args=[job.pk])
    reader = other_team.super_admin if who == "outsider" else team.by_role(who)

    assert client_for(team.team_member).get(progress).status_code == 200
    assert client_for(reader).get(progress).status_code == 404


# --- My account: why wasn't a conversation synced? ------------------------------------------


def _why(page: str) -> str:
    return page.split('id="why-not-synced"')[1].split("</section>")[0]


@time_machine.travel(datetime(2026, 3, 15, 12, tzinfo=UTC), tick=False)
def test_without_a_job_the_rules_are_dated_from_now(team, client_for):
    _set_level(team.organisation, "full", ingestion=True)

    why = _why(client_for(team.team_member).get(reverse(MY_ACCOUNT)).content.decode())

    assert "messages from 15 Mar 2025 on, in threads with a message since 15 Sep 2025" in why
    inactive = why.split(f'data-rule="{SkipRule.INACTIVE.value}"')[1].split("</li>")[0]
    assert "nothing before 15 Mar 2025 is ingested" in inactive
    assert "no message since 15 Sep 2025" in inactive
    assert "anyone at @acme.test" in why
    assert "Automatic ingestion is on for your organisation" in why


@time_machine.travel(datetime(2026, 3, 15, 12, tzinfo=UTC), tick=False)
def test_with_a_job_the_rules_are_dated_from_its_window(team, client_for):
    _set_level(team.organisation, "view", ingestion=True)
    _job(
        team.team_member,
        state=IngestionJob.State.DONE,
        since=datetime(2025, 1, 10, 9, tzinfo=UTC),
        active_since=datetime(2025, 7, 10, 9, tzinfo=UTC),
    )

    why = _why(client_for(team.team_member).get(reverse(MY_ACCOUNT)).content.decode())

    assert "messages from 10 Jan 2025 on, in threads with a message since 10 Jul 2025" in why
    assert "15 Mar 2025" not in why


@pytest.mark.parametrize(
    ("role", "told", "not_told"),
    [
        ("super_admin", "You can turn it on under", "Your Super Admin"),
        ("team_member", "Your Super Admin can turn it on.", "You can turn it on"),
    ],
)
def test_when_ingestion_is_off_each_role_is_told_who_can_turn_it_on(
    team, client_for, role, told, not_told
):
    _set_level(team.organisation, "full", ingestion=False)

    why = _why(client_for(team.by_role(role)).get(reverse(MY_ACCOUNT)).content.decode())

    assert "Automatic ingestion is off for your organisation" in why
    assert told in why
    assert not_told not in why


@pytest.mark.parametrize(
    ("role", "told"),
    [
        ("super_admin", "You can change the level under"),
        ("admin", "Your Super Admin can change the level."),
    ],
)
def test_at_send_only_the_explanation_says_it_is_unavailable(team, client_for, role, told):
    # Left on from before the level was lowered: still not available.
    _set_level(team.organisation, "limited", ingestion=True)

    why = _why(client_for(team.by_role(role)).get(reverse(MY_ACCOUNT)).content.decode())

    assert "not available at your organisation's email access level, Send only" in why
    assert told in why
    assert "is on for your organisation" not in why
