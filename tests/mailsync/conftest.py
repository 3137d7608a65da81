"""A recruiter, a candidate and their sandbox mailboxes, with Threadline's provider
endpoints pointed at the live server's sandbox: the real Google libraries over real HTTP."""

import email.policy
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage as Mime
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from mailsync.models import MailboxConnection
from mailsync.services import mailbox_sync
from sandbox import quota, tokens
from sandbox import services as sandbox
from sandbox.models import Label, Mailbox, Message, RequestLog


@pytest.fixture(autouse=True)
def _fresh_quota():
    # Gmail quota windows and Graph's limits live in process memory.
    from sandbox.microsoft import throttle

    quota.reset()
    throttle.reset()
    yield
    quota.reset()
    throttle.reset()


@dataclass(frozen=True)
class ProviderKit:
    """How each provider's side of the same story looks from the outside."""

    name: str
    consent: dict  # what Allow/Accept posts on the provider's consent page
    scopes: frozenset[str]  # what a full-sync connection must have been granted
    header_checks: dict  # request-log filter: headers-only fetches
    whole_fetches: dict  # request-log filter: fetches of a whole message

    def api_id(self, message: Message) -> str:
        """The id the provider's API uses for the message (Graph: the immutable id we ask for)."""
        return message.provider_id if self.name == "google" else message.immutable_id

    def own_label_on(self, message: Message) -> bool:
        if self.name == "google":
            label = Label.objects.filter(mailbox=message.mailbox, name="Threadline").first()
            return label is not None and label.provider_id in message.labels
        return "Threadline" in message.categories


KITS = {
    "google": ProviderKit(
        name="google",
        consent={"decision": "allow"},
        scopes=frozenset(
            {
                "https://www.googleapis.com/auth/gmail.modify",
                "https://www.googleapis.com/auth/gmail.send",
            }
        ),
        header_checks={"operation": "gmail.users.messages.get", "format": "metadata"},
        whole_fetches={"format__in": ["raw", "full"]},
    ),
    "microsoft": ProviderKit(
        name="microsoft",
        consent={"decision": "accept"},
        scopes=frozenset({"User.Read", "Mail.Send", "Mail.ReadWrite", "MailboxSettings.ReadWrite"}),
        header_checks={"operation": "graph.messages.get", "format": "headers"},
        whole_fetches={"format__in": ["mime", "full"]},
    ),
}


class MailWorld:
    """Story helpers: what the recruiter and the candidate do, each in their own mailbox."""

    def __init__(
        self, team, kit: ProviderKit, client: Client, *, recruiter=None, colleague_of=None
    ):
        """`recruiter` (default: the team member) is who `client` is signed in as;
        `colleague_of`: another world of the same team whose candidate's mailbox this one
        shares, seen from `recruiter`'s own mailbox."""
        self.team = team
        self.kit = kit
        self.recruiter = recruiter or team.team_member
        self.candidate = team.candidate_on_my_posting
        self.candidate_address = self.candidate.emails.get().address
        self.client = client
        self.recruiter_box = sandbox.mailbox_create(
            address=self.recruiter.email, display_name=self.recruiter.full_name, provider=kit.name
        )
        self.candidate_box = (
            colleague_of.candidate_box
            if colleague_of
            else sandbox.mailbox_create(
                address=self.candidate_address, display_name=self.candidate.full_name
            )
        )

    # -- the recruiter, in Threadline ----------------------------------------------------

    def connect(
        self, *, email: bool = True, calendar: bool = False, contacts: bool = False
    ) -> MailboxConnection:
        """Tick the boxes on My account (Email by default) and allow access on the
        provider's consent screen. Boxes left out are unticked."""
        boxes = {"email": email, "calendar": calendar, "contacts": contacts}
        return self._consent(self.save_my_account(**boxes))

    def save_my_account(self, **boxes: bool):
        """Save My account with these boxes ticked (the others unticked)."""
        ticked = {kind: "on" for kind, on in boxes.items() if on}
        return self.client.post(
            reverse("mailsync:my_account"), {"full_name": self.recruiter.full_name, **ticked}
        )

    def consent(self, start) -> MailboxConnection:
        """Allow on the consent screen that `start` (a redirect to it) leads to."""
        return self._consent(start)

    def reauthorize(self) -> MailboxConnection:
        """The Re-authorize button on My account, then Allow."""
        return self._consent(self.client.post(reverse("mailsync:connect")))

    def _consent(self, start) -> MailboxConnection:
        consent_url = urlsplit(start["Location"])
        consent_path = f"{consent_url.path}?{consent_url.query}"
        assert self.client.get(consent_path).status_code == 200
        back = self.client.post(consent_path, {**self.kit.consent, "address": self.recruiter.email})
        callback = urlsplit(back["Location"])
        done = self.client.get(f"{callback.path}?{callback.query}")
        assert done["Location"] == reverse("mailsync:my_account")
        return MailboxConnection.objects.get(user=self.recruiter)

    def sync(self):
        return mailbox_sync(mailbox_id=MailboxConnection.objects.get(user=self.recruiter).pk)

    # -- people writing in their own mailboxes -------------------------------------------

    def latest_in(self, box: Mailbox) -> Message:
        return Message.objects.filter(mailbox=box).latest("internal_date", "id")

    def reply(
        self,
        box: Mailbox,
        to: str,
        body: str,
        *,
        to_message: Message | None = None,
        extra_headers: dict | None = None,
    ) -> Message | None:
        """Reply from `box` to the newest message it holds, as a mail client would."""
        original = to_message or self.latest_in(box)
        headers = {name.lower(): value for name, value in original.headers}
        message = Mime(policy=email.policy.SMTP)
        message["From"] = email.utils.formataddr((box.display_name, box.address))
        message["To"] = to
        subject = headers.get("subject", "")
        message["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        message["Message-ID"] = email.utils.make_msgid(domain=box.address.split("@")[1])
        message["In-Reply-To"] = headers.get("message-id", "")
        message["References"] = f"{headers.get('references', '')} {headers.get('message-id', '')}"
        for name, value in (extra_headers or {}).items():
            message[name] = value
        message.set_content(body)
        return sandbox.message_send(mailbox=box, raw=message.as_bytes())

    def write(
        self, box: Mailbox, to: str, subject: str, body: str, **headers: str
    ) -> Message | None:
        message = Mime(policy=email.policy.SMTP)
        message["From"] = email.utils.formataddr((box.display_name, box.address))
        message["To"] = to
        message["Subject"] = subject
        for name, value in headers.items():
            message[name.replace("_", "-")] = value
        message.set_content(body)
        return sandbox.message_send(mailbox=box, raw=message.as_bytes())

    def revoke_grant(self) -> None:
        """The user removes Threadline's access at the provider."""
        tokens.grants_revoke(mailbox=self.recruiter_box)

    # -- what the provider saw -----------------------------------------------------------

    def log(self, **filters):
        return RequestLog.objects.filter(mailbox=self.recruiter_box, **filters)

    def header_checks(self):
        return self.log(**self.kit.header_checks)

    def whole_fetches(self):
        return self.log(**self.kit.whole_fetches)


def _point_providers_at_the_sandbox(settings, live_server, tls_live_server) -> None:
    google = f"{live_server.url}/sandbox/google/"
    settings.GOOGLE_MAIL_CLIENT_ID = "threadline-test-client"
    settings.GOOGLE_MAIL_CLIENT_SECRET = "threadline-test-secret"
    settings.GOOGLE_AUTH_URI = f"{google}o/oauth2/auth"
    settings.GOOGLE_TOKEN_URI = f"{google}token"
    settings.GOOGLE_REVOKE_URI = f"{google}revoke"
    settings.GOOGLE_API_ROOT = google
    settings.GOOGLE_USERINFO_URI = f"{google}oauth2/v3/userinfo"
    if tls_live_server is not None:
        microsoft = f"{tls_live_server.url}/sandbox/microsoft"
        settings.MICROSOFT_MAIL_CLIENT_ID = "threadline-test-client"
        settings.MICROSOFT_MAIL_CLIENT_SECRET = "threadline-test-secret"
        settings.MICROSOFT_AUTHORITY_HOST = microsoft
        settings.MICROSOFT_GRAPH_URL = f"{microsoft}/graph/"
    settings.MAILSYNC_HTTP_TIMEOUT = 5


def _world(request, provider: str, team, settings, client_for) -> MailWorld:
    live_server = request.getfixturevalue("live_server")
    tls = request.getfixturevalue("tls_live_server") if provider == "microsoft" else None
    _point_providers_at_the_sandbox(settings, live_server, tls)
    team.organisation.email_provider = provider
    team.organisation.save(update_fields=["email_provider"])
    return MailWorld(team, KITS[provider], client_for(team.team_member))


@pytest.fixture(params=["google", "microsoft"])
def world(request, team, transactional_db, settings, client_for) -> MailWorld:
    """The story on each provider in turn: every behaviour is specified once."""
    return _world(request, request.param, team, settings, client_for)


@pytest.fixture
def gmail_world(request, team, transactional_db, settings, client_for) -> MailWorld:
    return _world(request, "google", team, settings, client_for)


@pytest.fixture
def outlook_world(request, team, transactional_db, settings, client_for) -> MailWorld:
    return _world(request, "microsoft", team, settings, client_for)


@pytest.fixture
def tasks_in_process(settings):
    """Celery tasks run where they are sent (once the transaction commits): an import job
    started by a click runs to its end before the response, and every pause between two
    of its steps goes through the test's hooks (tests/mailsync/import_hooks.py)."""
    from config.celery import app
    from tests.mailsync import import_hooks

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    settings.MAILSYNC_SLEEP = import_hooks.PATH
    import_hooks.AT_EACH_PAUSE.clear()
    yield
    import_hooks.AT_EACH_PAUSE.clear()
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
