"""Retention (issue 12): a thread with no message sent or received for the organisation's
retention period (six months unless a Super Admin changes it) is removed by a daily run,
with its messages, their attachments and its mailbox links, and no tombstone; a reply
that comes later is synced again, alone, on Gmail and on Outlook."""

import datetime as dt
import email.policy
import email.utils
import re
from email.message import EmailMessage as Mime
from io import StringIO
from urllib.parse import quote

import pytest
import time_machine
from auditlog.models import LogEntry
from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation
from candidates.models import EmailAttachment, EmailMessage, EmailThread
from mailsync.models import (
    MailboxConnection,
    MailboxThread,
    RemovedMessage,
    RetiredThread,
    SyncedMessage,
)
from mailsync.sending import Draft
from mailsync.services import message_send, retention_sweep
from mailsync.tasks import apply_retention
from sandbox import services as sandbox
from sandbox.models import Message, RequestLog
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
)

# A Tuesday afternoon; the next daily run is on Wednesday at 03:30 UTC.
NOW = dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)
NEXT_RUN = dt.datetime(2026, 3, 11, 3, 30, tzinfo=dt.UTC)
SIX_MONTHS_AGO = NOW - relativedelta(months=6)


def _thread_last_written(team, at: dt.datetime, *, attachment: bool = False) -> EmailThread:
    """A thread of the team's candidate whose newest message was sent at `at`, with an
    older one before it, linked to a mailbox as sync links what it stores."""
    thread = EmailThreadFactory.create(
        candidate=team.candidate_on_my_posting, owner=team.team_member
    )
    older = EmailMessageFactory.create(thread=thread, sent_at=at - dt.timedelta(days=3))
    newest = EmailMessageFactory.create(
        thread=thread, sent_at=at, direction=EmailMessage.Direction.OUTBOUND
    )
    if attachment:
        EmailAttachmentFactory(message=newest)
    mailbox = _mailbox_of(team.team_member)
    MailboxThread.objects.create(
        mailbox=mailbox, thread=thread, provider_thread_id=f"t-{thread.pk}"
    )
    for message in (older, newest):
        SyncedMessage.objects.create(
            mailbox=mailbox, message=message, provider_message_id=f"m-{message.pk}"
        )
    return thread


def _mailbox_of(user) -> MailboxConnection:
    return MailboxConnection.objects.filter(user=user).first() or MailboxConnectionFactory.create(
        user=user
    )


def _exists(thread: EmailThread) -> bool:
    return EmailThread.objects.filter(pk=thread.pk).exists()


# --- the rule -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_thread_a_day_short_of_six_months_stays_and_one_a_day_over_goes(team):
    with time_machine.travel(NOW, tick=False):
        kept = _thread_last_written(team, SIX_MONTHS_AGO + dt.timedelta(days=1))
        gone = _thread_last_written(team, SIX_MONTHS_AGO - dt.timedelta(days=1), attachment=True)
        gone_messages = list(gone.messages.values_list("pk", flat=True))

        report = retention_sweep(organisation_id=team.organisation.pk)

    assert team.organisation.retention_months == 6
    assert report.removed == 1
    assert _exists(kept) and kept.messages.count() == 2
    assert not _exists(gone)
    assert not EmailMessage.objects.filter(pk__in=gone_messages).exists()
    assert not EmailAttachment.objects.filter(message_id__in=gone_messages).exists()
    assert not MailboxThread.objects.filter(thread_id=gone.pk).exists()
    assert not SyncedMessage.objects.filter(message_id__in=gone_messages).exists()
    assert SyncedMessage.objects.filter(message__thread=kept).count() == 2
    # Retention is not a user's removal: nothing is kept out afterwards.
    assert not RemovedMessage.objects.exists()


@pytest.mark.django_db
def test_a_thread_imported_long_after_its_last_message_goes_by_the_messages_own_time(team):
    """`last_message_at` starts at the thread's creation and only moves forward: an
    imported conversation's is the day it was imported, not its messages'."""
    with time_machine.travel(NOW - dt.timedelta(days=2), tick=False):
        imported = _thread_last_written(team, SIX_MONTHS_AGO - dt.timedelta(days=20))
    assert imported.last_message_at > SIX_MONTHS_AGO

    with time_machine.travel(NOW, tick=False):
        assert retention_sweep(organisation_id=team.organisation.pk).removed == 1

    assert not _exists(imported)


@pytest.mark.django_db
def test_the_months_are_the_organisations_and_no_other_organisation_is_touched(team, other_team):
    Organisation.objects.filter(pk=other_team.organisation.pk).update(retention_months=12)
    team.organisation.refresh_from_db()
    settings_before = {
        f.name: getattr(team.organisation, f.name) for f in Organisation._meta.concrete_fields
    }
    eight_months_ago = NOW - relativedelta(months=8)
    with time_machine.travel(NOW, tick=False):
        ours = _thread_last_written(team, eight_months_ago)
        theirs = _thread_last_written(other_team, eight_months_ago)
        theirs_older = _thread_last_written(other_team, NOW - relativedelta(months=13))

        assert retention_sweep(organisation_id=team.organisation.pk).removed == 1
        assert not _exists(ours)
        assert _exists(theirs) and _exists(theirs_older)  # another organisation's run

        assert retention_sweep(organisation_id=other_team.organisation.pk).removed == 1

    assert _exists(theirs)  # eight months is within their twelve
    assert not _exists(theirs_older)
    team.organisation.refresh_from_db()
    assert {
        f.name: getattr(team.organisation, f.name) for f in Organisation._meta.concrete_fields
    } == settings_before


@pytest.mark.django_db
def test_a_large_backlog_goes_in_batches_once_and_is_audited_without_content(team, client_for):
    with time_machine.travel(NOW, tick=False):
        candidate = team.candidate_on_my_posting
        old = SIX_MONTHS_AGO - dt.timedelta(days=30)
        threads = EmailThread.objects.bulk_create(
            EmailThread(
                organisation=team.organisation,
                candidate=candidate,
                owner=team.team_member,
                subject="Confidential offer",
                last_message_at=old,
            )
            for _ in range(450)
        )
        EmailMessage.objects.bulk_create(
            EmailMessage(
                thread=thread,
                message_id=f"<old-{n}@mail.test>",
                message_id_digest=f"{n:064x}",
                direction=EmailMessage.Direction.INBOUND,
                from_header="ada@acme-candidates.test",
                body_text="Salary expectations",
                sent_at=old,
            )
            for n, thread in enumerate(threads)
        )

        first = retention_sweep(organisation_id=team.organisation.pk)
        again = retention_sweep(organisation_id=team.organisation.pk)

    assert (first.removed, again.removed) == (450, 0)
    assert not EmailThread.objects.exists() and not EmailMessage.objects.exists()
    assert RetiredThread.objects.count() == 450
    entries = LogEntry.objects.get_for_object(team.organisation).filter(
        additional_data__event="retention_applied"
    )
    assert entries.count() == 1  # the second run removed nothing and says nothing
    entry = entries.get()
    assert entry.actor is None
    assert entry.additional_data["threads"] == 450
    assert entry.additional_data["months"] == 6
    written = f"{entry.changes} {entry.additional_data} {entry.object_repr}"
    assert "Confidential" not in written and "Salary" not in written and "ada@" not in written
    history = _settings_page(client_for(team.super_admin))
    assert "450 threads with no message for 6 months removed" in history


# --- Settings > Company ----------------------------------------------------------------


def _settings_page(client) -> str:
    return client.get(reverse("inbound:company_settings")).content.decode()


def _due_on_page(page: str) -> int:
    found = re.search(
        r"<strong>(\d+) threads?</strong> will be removed at the next run "
        r"\(daily at 03:30 UTC\)",
        page,
    )
    assert found, "the retention count is not on the page"
    return int(found.group(1))


@pytest.mark.django_db
def test_the_count_on_the_settings_page_is_what_the_next_run_removes(team, client_for):
    with time_machine.travel(NOW, tick=False):
        already_due = _thread_last_written(team, SIX_MONTHS_AGO - dt.timedelta(days=2))
        # Inactive for six months only by tonight's run.
        due_by_the_run = _thread_last_written(team, SIX_MONTHS_AGO + dt.timedelta(hours=10))
        kept = _thread_last_written(team, SIX_MONTHS_AGO + dt.timedelta(days=1))
        page = _settings_page(client_for(team.super_admin))

    assert "with no message sent or received for 6 months" in page
    assert _due_on_page(page) == 2
    with time_machine.travel(NEXT_RUN, tick=False):
        assert apply_retention(team.organisation.pk) == 2
    assert not _exists(already_due) and not _exists(due_by_the_run)
    assert _exists(kept)


@pytest.mark.django_db
def test_super_admin_changes_the_months_and_the_change_is_audited(team, client_for):
    client = client_for(team.super_admin)
    with time_machine.travel(NOW, tick=False):
        _thread_last_written(team, NOW - relativedelta(months=4))
        assert _due_on_page(_settings_page(client)) == 0

        response = client.post(
            reverse("inbound:company_settings"), {"form": "retention", "retention_months": "3"}
        )

        assert response.status_code == 302
        team.organisation.refresh_from_db()
        assert team.organisation.retention_months == 3
        page = _settings_page(client)
    assert _due_on_page(page) == 1
    assert "Retention was saved" in page
    change = LogEntry.objects.get_for_object(team.organisation).get(actor=team.super_admin)
    assert change.changes_dict["retention_months"] == ["6", "3"]


@pytest.mark.django_db
@pytest.mark.parametrize("months", ["0", "121", "six", ""])
def test_months_outside_one_to_a_hundred_and_twenty_are_refused_on_the_field(
    team, client_for, months
):
    response = client_for(team.super_admin).post(
        reverse("inbound:company_settings"), {"form": "retention", "retention_months": months}
    )

    assert response.status_code == 200
    field = response.context["retention_form"]["retention_months"]
    assert field.errors
    team.organisation.refresh_from_db()
    assert team.organisation.retention_months == 6


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "status", "months"),
    [("super_admin", 302, 1), ("admin", 403, 6), ("team_member", 403, 6), ("limited", 403, 6)],
)
def test_only_a_super_admin_changes_retention(team, client_for, role, status, months):
    response = client_for(team.by_role(role)).post(
        reverse("inbound:company_settings"), {"form": "retention", "retention_months": "1"}
    )

    assert response.status_code == status
    team.organisation.refresh_from_db()
    assert team.organisation.retention_months == months


# --- the daily run and the operators' command ----------------------------------------------


@pytest.mark.django_db
def test_beat_runs_retention_daily_at_a_quiet_hour():
    from django_celery_beat.models import PeriodicTask

    entry = PeriodicTask.objects.get(task="mailsync.tasks.apply_retention_everywhere")
    assert entry.enabled and entry.interval is None
    assert (entry.crontab.hour, entry.crontab.minute, str(entry.crontab.timezone)) == (
        "3",
        "30",
        "UTC",
    )
    assert entry.crontab.day_of_week == entry.crontab.day_of_month == "*"


@pytest.mark.django_db
def test_the_command_counts_with_dry_run_and_removes_for_one_organisation(team, other_team):
    with time_machine.travel(NOW, tick=False):
        ours = _thread_last_written(team, NOW - relativedelta(months=7))
        theirs = _thread_last_written(other_team, NOW - relativedelta(months=7))
        dry = StringIO()
        call_command("apply_retention", "--organisation", "acme", "--dry-run", stdout=dry)
        assert _exists(ours)
        done = StringIO()
        call_command("apply_retention", "--organisation", "acme", stdout=done)

    assert "would remove 1 threads" in dry.getvalue()
    assert "removed 1 threads" in done.getvalue()
    assert not _exists(ours)
    assert _exists(theirs)


# --- a conversation that goes on after retention removed it, on both providers ----------


def _candidate_reply_with_cv(world) -> Message:
    """The candidate answers the recruiter's email from their mail client, CV attached."""
    original = world.latest_in(world.candidate_box)
    headers = {name.lower(): value for name, value in original.headers}
    reply = Mime(policy=email.policy.SMTP)
    reply["From"] = email.utils.formataddr((world.candidate.full_name, world.candidate_address))
    reply["To"] = world.recruiter.email
    reply["Subject"] = "Re: Platform role"
    reply["Message-ID"] = email.utils.make_msgid(domain="candidates.test")
    reply["In-Reply-To"] = headers["message-id"]
    reply["References"] = headers["message-id"]
    reply.set_content("Yes! My CV is attached.")
    reply.add_attachment(b"%PDF-1.4 cv", maintype="application", subtype="pdf", filename="cv.pdf")
    sent = sandbox.message_send(mailbox=world.candidate_box, raw=reply.as_bytes())
    assert sent is not None
    return Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=sent.rfc822_msgid)


def _about(world, copy: Message) -> Q:
    """Requests naming this mailbox copy in their path (Graph's ids are URL-quoted there)."""
    api_id = world.kit.api_id(copy)
    return Q(path__contains=api_id) | Q(path__contains=quote(api_id, safe=""))


def test_a_reply_after_retention_comes_back_alone_without_the_old_messages(world):
    with time_machine.travel(timezone.now() - relativedelta(months=7), tick=True):
        world.connect()
        message_send(
            actor=world.recruiter,
            candidate=world.candidate,
            draft=Draft(to=world.candidate_address, subject="Platform role", body_text="Talk?"),
        )
        _candidate_reply_with_cv(world)
        assert world.sync().stored == 1
    old = EmailThread.objects.get(candidate=world.candidate)
    assert old.messages.count() == 2 and EmailAttachment.objects.count() == 1
    old_copies = list(Message.objects.filter(mailbox=world.recruiter_box))

    assert retention_sweep(organisation_id=world.team.organisation.pk).removed == 1

    assert not EmailThread.objects.exists() and not EmailAttachment.objects.exists()
    assert not MailboxThread.objects.exists() and not SyncedMessage.objects.exists()
    assert not RemovedMessage.objects.exists()
    before = RequestLog.objects.order_by("-id").values_list("id", flat=True).first()

    new = world.reply(world.candidate_box, world.recruiter.email, "Is the role still open?")
    report = world.sync()

    assert report.stored == 1
    thread = EmailThread.objects.get(candidate=world.candidate)
    assert [m.body_text.strip() for m in thread.messages.all()] == ["Is the role still open?"]
    assert thread.owner == world.recruiter
    assert thread.visibility == EmailThread.Visibility.PRIVATE
    assert thread.subject == "Re: Platform role"
    assert not EmailAttachment.objects.exists()
    new_copy = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=new.rfc822_msgid)
    assert _reads_of(world, new_copy, after=before).exists()
    # It is a live thread again: the next reply joins it, and a recovery that re-lists
    # the whole provider thread still leaves the old messages unread.
    world.reply(world.candidate_box, world.recruiter.email, "Monday works too.")
    _expire_cursor(world)
    assert world.sync().stored == 1
    assert thread.messages.count() == 2
    for copy in old_copies:
        assert not _reads_of(world, copy, after=before).exists()  # nothing old read again


def _reads_of(world, copy: Message, *, after: int):
    """Header checks and whole fetches of this mailbox copy after request `after`."""
    reads = world.header_checks() | world.whole_fetches()
    return reads.filter(id__gt=after).filter(_about(world, copy))


def _expire_cursor(world) -> None:
    """The provider forgets the cursor: the next sync re-lists every known thread."""
    expire = {"google": sandbox.history_expire, "microsoft": sandbox.delta_expire}
    expire[world.kit.name](mailbox=world.recruiter_box)
