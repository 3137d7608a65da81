"""The four email access levels (issue 12, item 1), on Gmail and on Outlook, through the
settings page, the consent screens and the sandbox's request log: lowering the level asks
first, then deauthorizes (revoked at Google, forgotten for Microsoft) and tells each user;
raising keeps what users had and offers the rest; View only reads with read-only scopes and
never labels or sends; Off turns email off (not Calendar) with a reason by role; nobody
authorizes before a provider is chosen, and once chosen it is never unchosen."""

import email
import email.policy
import html
import itertools

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import IntegrationPermission, Organisation
from accounts.services import AccountsError, organisation_update_settings
from candidates.models import EmailMessage, EmailThread
from mailsync.models import MailboxConnection, PendingAuthorization
from mailsync.policy import LEVEL_ALLOWS, level_change_deauthorizes
from mailsync.selectors import mailboxes_to_sync
from mailsync.services import LOWERED_REASONS
from sandbox.models import Grant, RequestLog
from tests.interviews.test_scheduling import _next_weekday
from tests.mailsync.conftest import MailWorld
from tests.mailsync.ingestion_helpers import DAY, conversation, mail
from tests.mailsync.test_limited_sync import _scopes

OFF, VIEW, LIMITED, FULL = (
    Organisation.SyncLevel.OFF,
    Organisation.SyncLevel.VIEW,
    Organisation.SyncLevel.LIMITED,
    Organisation.SyncLevel.FULL,
)
SETTINGS = "inbound:company_settings"
# What the OAuth layer adds to every request; not the mail permissions a level asks for.
OIDC = {"openid", "profile", "offline_access", "email"}
READ_ONLY = {
    "google": {"https://www.googleapis.com/auth/gmail.readonly"},
    "microsoft": {"User.Read", "Mail.Read"},
}
# Any scope that lets an app change a mailbox or send from it.
WRITE_OR_SEND = {
    "https://mail.google.com/",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.labels",
    "https://www.googleapis.com/auth/gmail.insert",
    "Mail.Send",
    "Mail.ReadWrite",
    "MailboxSettings.ReadWrite",
}
LABELS_OR_SENDS = (
    "gmail.users.labels.create",
    "gmail.users.messages.modify",
    "gmail.users.messages.batchModify",
    "gmail.users.messages.send",
    "graph.masterCategories.create",
    "graph.messages.patch",
    "graph.messages.create",
    "graph.messages.send",
    "graph.sendMail",
)
SENDS = ("gmail.users.messages.send", "graph.sendMail", "graph.messages.send")
CALENDAR_SCOPES = {
    "google": {
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.freebusy",
    },
    "microsoft": {"Calendars.ReadWrite"},
}
LOWERINGS = [
    (old, new)
    for old, new in itertools.permutations([FULL, VIEW, LIMITED, OFF], 2)
    if old != OFF and level_change_deauthorizes(old, new)
]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _at_level(world: MailWorld, level: str) -> Organisation:
    """The level as if it had always been so (what users authorized under)."""
    organisation = world.team.organisation
    organisation.email_sync_level = level
    organisation.save(update_fields=["email_sync_level"])
    return organisation


def _change_level(client, level: str, *, confirm: bool = False):
    data = {
        "form": "email_sync",
        "level": level,
        "routing_confirmed": "on",
        "microsoft_authorization_mode": "users",
    }
    if confirm:
        data["confirm_level_change"] = "on"
    return client.post(reverse(SETTINGS), data, follow=True)


def _colleague(world: MailWorld, client_for) -> MailWorld:
    """The admin, with a mailbox of their own on the same provider."""
    return MailWorld(
        world.team,
        world.kit,
        client_for(world.team.admin),
        recruiter=world.team.admin,
        colleague_of=world,
    )


def _compose(world: MailWorld, body: str = "Shall we talk on Tuesday?"):
    fields = {"to": world.candidate_address, "subject": "Platform Engineer", "body_text": body}
    return world.client.post(reverse("mailsync:email_send", args=[world.candidate.pk]), fields)


def _banner(world: MailWorld, banner_id: str) -> str:
    """The banner `banner_id` on the user's next page (the candidate list), as text."""
    page = _text(world.client.get(reverse("candidates:list")))
    assert f'id="{banner_id}"' in page, page[:3000]
    return page[page.index(f'id="{banner_id}"') :][:800]


def _emails_tab(world: MailWorld) -> str:
    return _text(world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])))


def _delivered(world: MailWorld) -> str:
    """The text of the newest message in the candidate's own mailbox."""
    raw = bytes(world.latest_in(world.candidate_box).raw)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def _candidate_answers(world: MailWorld, subject: str, ids: list[str], body: str) -> None:
    """The candidate answers an ingested conversation: it lands in the recruiter's Inbox."""
    mail(
        world,
        sender=world.candidate_address,
        to=[world.recruiter.email],
        at=timezone.now(),
        subject=subject,
        replying_to=ids[-1],
        body=body,
    )


def _view_only_with_a_conversation(world: MailWorld, subject: str) -> list[str]:
    """View only with automatic ingestion on, and a recent conversation with the candidate
    in the recruiter's mailbox for it to bring in; returns its Message-IDs."""
    organisation = _at_level(world, VIEW)
    organisation.auto_ingestion_enabled = True
    organisation.save(update_fields=["auto_ingestion_enabled"])
    now = timezone.now()
    return conversation(world, world.candidate_address, subject, [now - 3 * DAY, now - DAY])


def _raise_to_send_and_view(
    world: MailWorld, client_for, connection: MailboxConnection, offered: str
) -> None:
    """The Super Admin raises the level to Send & view: the connection keeps its tokens and
    what they were granted at, and its user is offered the rest on their next page."""
    kept = connection.credentials, connection.sync_level
    raised = _text(_change_level(client_for(world.team.super_admin), FULL))
    assert "Email access is Send & view" in raised
    connection.refresh_from_db()
    assert connection.state == MailboxConnection.State.CONNECTED
    assert (connection.credentials, connection.sync_level) == kept
    assert offered in _banner(world, "upgrade-banner")


def _inbound_bodies() -> list[str]:
    return [m.body_text.strip() for m in EmailMessage.objects.filter(direction="inbound")]


def _requested(world: MailWorld) -> set[str]:
    """The mail permissions the newest consent asked the provider for."""
    grant = Grant.objects.filter(mailbox=world.recruiter_box).latest("created_at")
    return _scopes(grant.scopes) - OIDC


def test_the_lowerings_are_the_seven_that_take_something_away():
    assert set(LOWERINGS) == {
        (FULL, VIEW),
        (FULL, LIMITED),
        (FULL, OFF),
        (VIEW, OFF),
        (LIMITED, OFF),
        (VIEW, LIMITED),
        (LIMITED, VIEW),
    }
    raisings = [(OFF, VIEW), (OFF, LIMITED), (OFF, FULL), (VIEW, FULL), (LIMITED, FULL)]
    assert not [change for change in raisings if level_change_deauthorizes(*change)]


@pytest.mark.parametrize(("old", "new"), LOWERINGS, ids=lambda level: str(level))
def test_every_lowering_deauthorizes_after_a_confirmation(world, client_for, old, new):
    _at_level(world, old)
    colleague = _colleague(world, client_for)
    users = [world, colleague]
    for user in users:
        assert user.connect().sync_level == old
    super_admin = client_for(world.team.super_admin)

    asked = _text(_change_level(super_admin, new))

    assert "deauthorizes 2 users:" in asked and "Tick to confirm." in asked
    organisation = Organisation.objects.get(pk=world.team.organisation.pk)
    assert organisation.email_sync_level == old  # nothing changed yet
    for user in users:
        connection = MailboxConnection.objects.get(user=user.recruiter)
        assert connection.state == MailboxConnection.State.CONNECTED
        assert connection.credentials != "{}" and connection.deauthorized_at is None
    assert not RequestLog.objects.filter(operation="oauth2.revoke").exists()

    done = _text(_change_level(super_admin, new, confirm=True))

    assert "2 users were deauthorized and must re-authorize." in done
    organisation.refresh_from_db()
    assert organisation.email_sync_level == new
    for user in users:
        connection = MailboxConnection.objects.get(user=user.recruiter)
        assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
        assert connection.credentials == "{}"
        assert connection.deauthorized_at is not None
        permission = IntegrationPermission.objects.get(user=user.recruiter, kind="email")
        assert permission.state == IntegrationPermission.State.NEEDS_REAUTHORIZATION
        if world.kit.name == "google":
            # Google revokes the grant; Microsoft offers no per-app revocation to users.
            assert user.log(operation="oauth2.revoke", status=200).count() == 1
            assert Grant.objects.get(mailbox=user.recruiter_box).revoked_at is not None
        # No right outlives the switch: nothing more is asked of the provider.
        calls = user.log().count()
        assert user.sync().status in ("not_connected", "send_only")
        assert user.log().count() == calls
        # Each user is told on their next page what happened, and to re-authorize under
        # the new level; at Off, that nobody can until the company turns Email back on.
        banner = _banner(user, "reauth-banner")
        assert LOWERED_REASONS[new] in banner
        if new == OFF:
            assert "Re-authorize it" not in banner
            assert "Your company has turned Email off" in banner
        else:
            assert "Re-authorize it" in banner


@pytest.mark.parametrize("new", [VIEW, LIMITED, FULL])
def test_raising_from_off_lets_users_authorize_at_the_new_level(world, client_for, new):
    _at_level(world, OFF)
    refused = _text(world.client.post(reverse("mailsync:connect"), follow=True))
    assert "Your company has turned Email off" in refused
    assert not PendingAuthorization.objects.exists()
    assert not Grant.objects.filter(mailbox=world.recruiter_box).exists()

    raised = _text(_change_level(client_for(world.team.super_admin), new))

    # Nothing to deauthorize: no confirmation, the level is saved at once.
    assert "Tick to confirm." not in raised
    assert Organisation.objects.get(pk=world.team.organisation.pk).email_sync_level == new
    connection = world.connect()
    assert connection.state == MailboxConnection.State.CONNECTED
    assert connection.sync_level == new
    requested = _requested(world)
    if new == VIEW:
        assert requested == READ_ONLY[world.kit.name]
    may = LEVEL_ALLOWS[new]
    assert bool(requested & WRITE_OR_SEND) == ("send" in may)
    assert (world.sync().status not in ("send_only", "not_connected")) == ("read" in may)


def test_raising_send_only_to_send_and_view_keeps_sending_and_offers_reading(world, client_for):
    _at_level(world, LIMITED)
    connection = world.connect()

    _raise_to_send_and_view(world, client_for, connection, "now lets Threadline read your mail")

    # Sending goes on with the send-only grant; reading waits for the new consent.
    assert _compose(world, "Sent while the level was raised.").status_code == 302
    assert "Sent while the level was raised." in _delivered(world)
    calls = world.log().count()
    assert world.sync().status == "send_only"
    assert world.log().count() == calls

    renewed = world.reauthorize()

    assert renewed.sync_level == FULL
    assert _requested(world) >= set(world.kit.scopes)
    world.reply(world.candidate_box, world.recruiter.email, "Happy to talk.")
    assert world.sync().stored == 1
    assert "Happy to talk." in _inbound_bodies()
    assert "upgrade-banner" not in _text(world.client.get(reverse("candidates:list")))


def test_raising_view_only_to_send_and_view_keeps_syncing_and_offers_sending(
    world, client_for, tasks_in_process
):
    ids = _view_only_with_a_conversation(world, "Coffee next week")
    connection = world.connect()
    assert EmailThread.objects.filter(origin=EmailThread.Origin.INGESTED).count() == 1
    assert _compose(world).status_code == 200  # refused at View only

    _raise_to_send_and_view(world, client_for, connection, "now lets Threadline send")

    # Syncing goes on with the read-only grant; sending waits for the new consent.
    _candidate_answers(world, "Coffee next week", ids, "Still keen on that coffee.")
    assert world.sync().stored == 1
    assert "Still keen on that coffee." in _inbound_bodies()
    tab = _emails_tab(world)
    reason = tab[tab.index('id="mailbox-send-refusal"') :].split("</p>", 1)[0]
    assert "re-authorize your mailbox under Settings › My account to send" in reason
    refused = _text(_compose(world))
    assert "re-authorize your mailbox under Settings › My account to send" in refused
    assert not world.log(operation__in=SENDS).exists()

    renewed = world.reauthorize()

    assert renewed.sync_level == FULL
    assert _compose(world, "Now from Threadline.").status_code == 302
    assert "Now from Threadline." in _delivered(world)


def test_view_only_reads_with_read_only_scopes_and_never_labels_or_sends(world, tasks_in_process):
    ids = _view_only_with_a_conversation(world, "Read only")

    connection = world.connect()

    assert connection.sync_level == VIEW
    assert _requested(world) == READ_ONLY[world.kit.name]
    consents = RequestLog.objects.filter(
        operation__in=["oauth2.authorize", "identity.authorize"], status=302
    ).exclude(scopes="")
    assert consents.exists()
    assert all(not WRITE_OR_SEND & _scopes(entry.scopes) for entry in consents)
    _candidate_answers(world, "Read only", ids, "Read, never labelled.")
    assert world.sync().stored == 1
    # No compose or reply anywhere, and a send is refused with the reason.
    tab = _emails_tab(world)
    assert "Read, never labelled." in tab
    assert 'id="send-unavailable"' in tab and "email access is View only" in tab
    assert "mailsync/send" not in tab and "Send reply" not in tab and "New email" not in tab
    refused = _text(_compose(world))
    assert "email access is View only" in refused
    operations = set(world.log().values_list("operation", flat=True))
    assert operations & {"gmail.users.history.list", "graph.messages.delta"}
    assert not operations & set(LABELS_OR_SENDS)
    assert not world.kit.own_label_on(world.latest_in(world.recruiter_box))
    assert not EmailThread.objects.exclude(origin=EmailThread.Origin.INGESTED).exists()


@pytest.mark.parametrize(
    ("role", "told", "never"),
    [
        ("super_admin", "turn it on under Settings › Company", "Ask your Super Admin"),
        ("team_member", "Ask your Super Admin to turn it on", "turn it on under"),
    ],
)
def test_off_disables_email_with_a_role_aware_reason(team, client_for, role, told, never):
    team.organisation.email_sync_level = OFF
    team.organisation.save(update_fields=["email_sync_level"])
    client = client_for(team.by_role(role))

    account = _text(client.get(reverse("mailsync:my_account")))
    connect = _text(client.post(reverse("mailsync:connect"), follow=True))
    tab = _text(client.get(reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk])))
    sent = _text(
        client.post(
            reverse("mailsync:email_send", args=[team.candidate_on_my_posting.pk]),
            {"to": "ada@acme-candidates.test", "subject": "Hi", "body_text": "Hello"},
        )
    )

    for page in (account, connect, tab, sent):
        assert told in page and never not in page
    assert 'name="email" disabled' in account or 'disabled id="id_email"' in account
    assert "New email" not in tab and 'id="send-unavailable"' in tab
    assert not PendingAuthorization.objects.exists()
    assert not EmailThread.objects.exists()


def test_off_syncs_no_mailbox(world, client_for):
    connection = world.connect()
    assert connection.pk in mailboxes_to_sync()
    world.write(world.candidate_box, world.recruiter.email, "Hello", "Written at Off.")
    # Off, even for a mailbox that somehow still holds its tokens.
    _at_level(world, OFF)
    calls = world.log().count()

    report = world.sync()
    now = _text(world.client.post(reverse("mailsync:sync_now"), follow=True))

    assert report.status == "not_connected"
    assert connection.pk not in mailboxes_to_sync()
    assert "Your organisation has turned email off" in now
    assert world.log().count() == calls
    assert not EmailMessage.objects.exists()


def test_calendar_works_with_email_off(world):
    organisation = _at_level(world, OFF)
    organisation.calendar_enabled = True
    organisation.save(update_fields=["calendar_enabled"])

    connection = world.connect(email=False, calendar=True)

    assert connection.state == MailboxConnection.State.CONNECTED
    assert connection.uses_calendar and not connection.uses_email
    requested = _requested(world)
    assert CALENDAR_SCOPES[world.kit.name] <= requested
    assert not (READ_ONLY[world.kit.name] - {"User.Read"}) & requested
    assert not WRITE_OR_SEND & requested
    tab = _text(world.client.get(reverse("interviews:list", args=[world.candidate.pk])))
    assert "Schedule interview" in tab
    day = _next_weekday()
    search = world.client.post(
        reverse("interviews:schedule", args=[world.candidate.pk]),
        {
            "title": "Interview: Ada",
            "duration": "60",
            "first_day": day.isoformat(),
            "last_day": day.isoformat(),
            "time_zone": "Europe/London",
            "invitation": "Looking forward to it.",
        },
    )
    assert search.status_code == 200
    assert 'name="start" value="' in search.content.decode()
    free_busy = world.log(operation__in=["calendar.freebusy.query", "graph.calendar.getSchedule"])
    assert free_busy.filter(status=200).exists()
    assert world.sync().status == "not_connected"


@pytest.mark.parametrize("role", ["super_admin", "team_member"])
def test_without_a_provider_nobody_authorizes(team, client_for, role):
    team.organisation.email_provider = ""
    team.organisation.save(update_fields=["email_provider"])
    user = team.by_role(role)
    client = client_for(user)

    connect = client.post(reverse("mailsync:connect"))
    saved = client.post(
        reverse("mailsync:my_account"),
        {"full_name": user.full_name, "email": "on", "calendar": "on"},
        follow=True,
    )

    assert connect["Location"] == reverse("mailsync:my_account")
    assert not PendingAuthorization.objects.exists()
    assert not MailboxConnection.objects.exists()
    assert not RequestLog.objects.exists()
    text = _text(saved) + _text(client.get(reverse("mailsync:my_account")))
    if role == "super_admin":
        assert "Choose your company's email provider under Settings › Company" in text
    else:
        assert "your Super Admin chooses it under Settings › Company" in text
        assert "Choose your company's email provider" not in text
    tab = _text(client.get(reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk])))
    assert 'id="send-unavailable"' in tab and "New email" not in tab


def test_the_provider_is_chosen_once_and_never_unchosen(team, client_for):
    organisation = team.organisation
    organisation.email_provider = ""
    organisation.save(update_fields=["email_provider"])
    super_admin = client_for(team.super_admin)

    def save(provider: str):
        return super_admin.post(
            reverse(SETTINGS),
            {
                "form": "general",
                "name": organisation.name,
                "email_provider": provider,
                "microsoft_authorization_mode": organisation.microsoft_authorization_mode,
            },
            follow=True,
        )

    # Saving the page without choosing is allowed while nothing is chosen.
    assert "Company settings were saved." in _text(save(""))
    assert "Company settings were saved." in _text(save("microsoft"))
    organisation.refresh_from_db()
    assert organisation.email_provider == "microsoft"

    refused = save("")

    assert refused.status_code == 200
    assert "This field is required." in _text(refused)
    organisation.refresh_from_db()
    assert organisation.email_provider == "microsoft"
    choices = _text(super_admin.get(reverse(SETTINGS)))
    assert 'value="microsoft" selected' in choices or 'value="microsoft" checked' in choices


def test_a_calendar_only_connection_is_neither_counted_nor_deauthorized(world, client_for):
    organisation = world.team.organisation
    organisation.calendar_enabled = True
    organisation.save(update_fields=["calendar_enabled"])
    world.connect()
    colleague = _colleague(world, client_for)
    calendar_only = colleague.connect(email=False, calendar=True)
    calendar_tokens = calendar_only.credentials
    super_admin = client_for(world.team.super_admin)

    asked = _text(_change_level(super_admin, VIEW))
    assert "deauthorizes 1 user:" in asked
    done = _text(_change_level(super_admin, VIEW, confirm=True))

    assert "1 user was deauthorized and must re-authorize." in done
    calendar_only.refresh_from_db()
    assert calendar_only.state == MailboxConnection.State.CONNECTED
    assert calendar_only.credentials == calendar_tokens
    assert calendar_only.deauthorized_at is None
    assert not colleague.log(operation="oauth2.revoke").exists()
    assert "reauth-banner" not in _text(colleague.client.get(reverse("candidates:list")))
    mine = MailboxConnection.objects.get(user=world.recruiter)
    assert mine.state == MailboxConnection.State.NEEDS_REAUTHORIZATION


def test_a_grant_revoked_at_the_provider_counts_as_deauthorized(world):
    world.connect()
    world.revoke_grant()

    world.sync()

    connection = MailboxConnection.objects.get(user=world.recruiter)
    assert connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    assert connection.deauthorized_at is not None
    assert abs(connection.deauthorized_at - timezone.now()) < DAY / 24


def test_the_service_refuses_to_unchoose_the_provider_too(team):
    organisation = team.organisation
    assert organisation.email_provider
    with pytest.raises(AccountsError, match="can be changed but not removed"):
        organisation_update_settings(
            actor=team.super_admin,
            organisation=organisation,
            name=organisation.name,
            email_provider="",
        )
    organisation.refresh_from_db()
    assert organisation.email_provider
