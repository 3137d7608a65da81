"""Suspension purge, on Gmail and on Outlook: Django admin's action on organisations and
`manage.py purge_mailbox_data` delete everything Threadline took from the organisation's
mailboxes (threads, messages, attachments, tombstones, tokens, cursors, jobs), revoke the
tokens, and leave candidates, users, postings and every other organisation alone. On
SQLite the database file and its WAL are scanned, after a VACUUM, for the mail's subject,
body, attachment and token, in clear and as the ciphertexts stored before the purge."""

import base64
import email.policy
import email.utils
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from email.message import EmailMessage as Mime
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import IntegrationPermission, User
from candidates.models import (
    Candidate,
    EmailAttachment,
    EmailMessage,
    EmailThread,
    Posting,
    ThreadSeen,
)
from core.attachment_storage import attachment_blob_write
from mailsync.models import (
    DraftAttachment,
    ImportJob,
    IngestionJob,
    MailboxConnection,
    MailboxThread,
    PendingAuthorization,
    RemovedMessage,
    RetiredThread,
    SkippedMessage,
    SyncedMessage,
)
from mailsync.sending import Draft
from mailsync.services import message_remove, message_send
from sandbox import services as sandbox
from sandbox.models import Grant
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
)
from tests.mailsync.helpers import child_environment

PURGED = (
    EmailThread,
    EmailMessage,
    EmailAttachment,
    ThreadSeen,
    RemovedMessage,
    RetiredThread,
    MailboxConnection,
    MailboxThread,
    SyncedMessage,
    SkippedMessage,
    ImportJob,
    IngestionJob,
    PendingAuthorization,
    DraftAttachment,
)


@dataclass(frozen=True)
class Seeded:
    subject: str
    phrase: str
    attachment: bytes
    tokens: list[str]


def _known() -> Seeded:
    mark = uuid.uuid4().hex
    return Seeded(
        subject=f"Offer letter {mark[:12]}",
        phrase=f"my notice period is {mark[12:24]} weeks",
        attachment=f"%PDF-1.4 passport scan {mark[24:]}".encode(),
        tokens=[],
    )


def _seed(world) -> Seeded:
    """A synced mailbox holding a thread started in Threadline with a known subject, the
    candidate's reply with a known phrase and attachment, a removed message (a tombstone),
    and every kind of job and checkpoint a mailbox leaves behind."""
    known = _known()
    mailbox = world.connect()
    message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject=known.subject, body_text="Hello!"),
    )
    original = world.latest_in(world.candidate_box)
    headers = {name.lower(): value for name, value in original.headers}
    reply = Mime(policy=email.policy.SMTP)
    reply["From"] = email.utils.formataddr((world.candidate.full_name, world.candidate_address))
    reply["To"] = world.recruiter.email
    reply["Subject"] = f"Re: {known.subject}"
    reply["Message-ID"] = email.utils.make_msgid(domain="candidates.test")
    reply["In-Reply-To"] = headers["message-id"]
    reply["References"] = headers["message-id"]
    reply.set_content(f"Thanks! For the record, {known.phrase}.")
    reply.add_attachment(
        known.attachment, maintype="application", subtype="pdf", filename="passport.pdf"
    )
    assert sandbox.message_send(mailbox=world.candidate_box, raw=reply.as_bytes()) is not None
    world.reply(world.candidate_box, world.recruiter.email, "P.S. remove this one")
    assert world.sync().stored == 2
    postscript = next(m for m in EmailMessage.objects.all() if "remove this one" in m.body_text)
    message_remove(actor=world.recruiter, message=postscript)
    # Retention's note of a thread it removed (ids only, still derived from the mailbox).
    RetiredThread.objects.create(
        thread_id=uuid.uuid4(),
        organisation=world.team.organisation,
        candidate=postscript.thread.candidate,
        owner=world.recruiter,
    )

    mailbox.refresh_from_db()
    now = timezone.now()
    ImportJob.objects.create(
        user=world.recruiter, candidate=world.candidate, mailbox=mailbox, checkpoint={"page": "x"}
    )
    IngestionJob.objects.create(mailbox=mailbox, since=now, active_since=now, checkpoint={"p": 1})
    SkippedMessage.objects.create(mailbox=mailbox, provider_message_id="skipped-1", reason="x")
    PendingAuthorization.objects.create(
        user=world.recruiter, provider=mailbox.provider, state=uuid.uuid4().hex, flow_state="{}"
    )
    DraftAttachment.objects.create(
        user=world.recruiter,
        filename="draft.pdf",
        size=len(known.attachment),
        blob=attachment_blob_write(known.attachment),
    )
    ThreadSeen.objects.create(user=world.recruiter, thread=EmailThread.objects.get())
    tokens = [v for v in json.loads(mailbox.credentials).values() if isinstance(v, str)]
    tokens = [token for token in tokens if len(token) >= 16]
    assert tokens  # the provider's access and refresh tokens
    assert EmailAttachment.objects.get().size == len(known.attachment)
    assert known.phrase in EmailMessage.objects.get(direction="inbound").body_text
    return Seeded(known.subject, known.phrase, known.attachment, tokens)


def _other_organisation(other_team) -> EmailThread:
    """Another organisation's mail, which a purge of the first must not touch."""
    thread = EmailThreadFactory.create(
        candidate=other_team.candidate_on_my_posting,
        owner=other_team.team_member,
        subject=f"Globex only {uuid.uuid4().hex}",
    )
    EmailAttachmentFactory(message=EmailMessageFactory(thread=thread))
    MailboxConnectionFactory(user=other_team.team_member, credentials='{"token": "globex"}')
    return thread


def _rows(organisation) -> dict[str, int]:
    counts = {
        "EmailThread": EmailThread.objects.filter(organisation=organisation).count(),
        "EmailMessage": EmailMessage.objects.filter(thread__organisation=organisation).count(),
        "EmailAttachment": EmailAttachment.objects.filter(
            message__thread__organisation=organisation
        ).count(),
        "MailboxConnection": MailboxConnection.objects.filter(organisation=organisation).count(),
    }
    return counts


def _purge_with_the_command(*arguments: str, answer: str = "") -> subprocess.CompletedProcess:
    """`manage.py purge_mailbox_data` in its own process, against the test database and
    the live server's sandbox (where Google revokes tokens)."""
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", "purge_mailbox_data", *arguments],
        cwd=settings.BASE_DIR,
        env=child_environment(GOOGLE_REVOKE_URI=settings.GOOGLE_REVOKE_URI),
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _operator():
    return User.objects.create_superuser("ops@installation.test", "pw-irrelevant")


def _purge_in_admin(client, organisation, **extra):
    return client.post(
        reverse("admin:accounts_organisation_changelist"),
        {"action": "purge_mailbox_data", "_selected_action": [str(organisation.pk)], **extra},
    )


# --- Row counts ---------------------------------------------------------------------------


def test_operator_purges_an_organisation_in_admin_after_confirming(world, other_team, client_for):
    organisation = world.team.organisation
    _seed(world)
    others = _other_organisation(other_team)
    other_rows = _rows(other_team.organisation)
    kept = {
        "candidates": Candidate.objects.filter(organisation=organisation).count(),
        "users": User.objects.filter(organisation=organisation).count(),
        "postings": Posting.objects.filter(organisation=organisation).count(),
    }
    client = client_for(_operator())

    asked = _purge_in_admin(client, organisation)
    assert asked.status_code == 200
    assert b"Yes, purge" in asked.content
    assert EmailThread.objects.filter(organisation=organisation).exists()  # nothing yet

    done = _purge_in_admin(client, organisation, confirmed="yes")
    assert done.status_code == 302

    for model in PURGED:
        leftovers = model.objects.all()
        if model is EmailThread:
            leftovers = leftovers.exclude(pk=others.pk)
        elif model is EmailMessage:
            leftovers = leftovers.exclude(thread=others)
        elif model is EmailAttachment:
            leftovers = leftovers.exclude(message__thread=others)
        elif model is MailboxConnection:
            leftovers = leftovers.exclude(organisation=other_team.organisation)
        assert leftovers.count() == 0, model.__name__
    assert {
        "candidates": Candidate.objects.filter(organisation=organisation).count(),
        "users": User.objects.filter(organisation=organisation).count(),
        "postings": Posting.objects.filter(organisation=organisation).count(),
    } == kept
    assert not IntegrationPermission.objects.filter(
        user__organisation=organisation, enabled=True
    ).exists()
    # The other organisation is untouched.
    assert _rows(other_team.organisation) == other_rows
    assert json.loads(MailboxConnection.objects.get().credentials) == {"token": "globex"}
    # Google's grant was revoked at the provider (Microsoft offers no revocation).
    if world.kit.name == "google":
        assert world.log(operation="oauth2.revoke").exists()
        assert not Grant.objects.filter(mailbox=world.recruiter_box, revoked_at=None).exists()
    # One audit entry: who, and counts, no content.
    entry = LogEntry.objects.get_for_object(organisation).get(
        additional_data__event="mailbox_data_purged"
    )
    assert entry.actor.email == "ops@installation.test"
    assert entry.additional_data["counts"]["candidates.EmailMessage"] == 2
    # The Super Admin reads it in the company's audit log.
    settings_page = client_for(world.team.super_admin).get(reverse("inbound:company_settings"))
    assert "mailbox data" in settings_page.content.decode()
    assert "candidates.EmailMessage 2" in settings_page.content.decode()


@pytest.mark.parametrize("role", ["super_admin", "admin", "team_member"])
def test_only_operators_are_offered_the_purge(team, role, client_for):
    """Suspension is the installation operator's: an organisation's own Super Admin and
    Admin are not offered it and their posts purge nothing; a Team Member cannot enter."""
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    changelist = reverse("admin:accounts_organisation_changelist")
    assert b"purge_mailbox_data" in client_for(_operator()).get(changelist).content
    client = client_for(team.by_role(role))

    response = _purge_in_admin(client, team.organisation, confirmed="yes")

    if role == "team_member":
        assert response.status_code == 403
    else:
        assert b"purge_mailbox_data" not in client.get(changelist).content
        assert response.status_code in (200, 302)
    assert EmailThread.objects.filter(pk=thread.pk).exists()
    assert not LogEntry.objects.filter(additional_data__event="mailbox_data_purged").exists()


# --- The command ----------------------------------------------------------------------------


def test_the_command_refuses_without_confirmation(gmail_world):
    world = gmail_world
    _seed(world)

    for answer in ("", "globex\n"):
        refused = _purge_with_the_command("--organisation", "acme", answer=answer)
        assert refused.returncode != 0
        assert "Not confirmed" in refused.stderr
    assert EmailThread.objects.exists()
    assert MailboxConnection.objects.filter(state="connected").exists()

    unknown = _purge_with_the_command("--organisation", "nobody", "--yes")
    assert unknown.returncode != 0


def test_the_command_purges_once_the_slug_is_typed(gmail_world):
    world = gmail_world
    _seed(world)

    done = _purge_with_the_command("--organisation", "acme", answer="acme\n")

    assert done.returncode == 0, done.stderr
    assert "candidates.EmailMessage: 2" in done.stdout
    assert not EmailThread.objects.exists()
    assert not MailboxConnection.objects.exists()
    assert world.log(operation="oauth2.revoke").exists()
    entry = LogEntry.objects.get(additional_data__event="mailbox_data_purged")
    assert entry.actor is None
    assert entry.additional_data["via"] == "manage.py purge_mailbox_data"


# --- Nothing left on disk -------------------------------------------------------------------


def _ciphertexts() -> list[str]:
    """Every encrypted value Threadline stores about mail, as it is in the database."""
    columns = {
        EmailThread: ["subject"],
        EmailMessage: ["subject", "body_text", "snippet", "from_header", "to_header"],
        EmailAttachment: ["filename"],
        MailboxConnection: ["credentials"],
        DraftAttachment: ["filename"],
    }
    found = []
    with connection.cursor() as cursor:
        for model, names in columns.items():
            table = connection.ops.quote_name(model._meta.db_table)
            for name in names:
                cursor.execute(f"SELECT {connection.ops.quote_name(name)} FROM {table}")  # noqa: S608 (our own names)
                found += [value for (value,) in cursor.fetchall() if value and len(value) > 40]
    return found


def _on_disk() -> bytes:
    """The database file, its WAL and shared memory, after a VACUUM and a checkpoint."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    name = Path(connection.settings_dict["NAME"])
    database_files = [name, Path(f"{name}-wal"), Path(f"{name}-shm")]
    # Another process reads SQLite's files. Closing any descriptor of a file drops every
    # POSIX lock this process holds on it (sqlite.org/howtocorrupt.html, 2.2). Connections
    # kept open in other threads (DATABASE_CONN_MAX_AGE) would then look absent to the
    # purge's process, which deletes the WAL and shared memory under them.
    database = subprocess.run(  # noqa: S603 (our own files)
        ["cat", *(str(path) for path in database_files if path.exists())],  # noqa: S607 (coreutils)
        capture_output=True,
        check=True,
    ).stdout
    files: list[Path] = []
    media = Path(settings.MEDIA_ROOT) if getattr(settings, "MEDIA_ROOT", "") else None
    if media is not None and media.is_dir():
        files += [path for path in media.rglob("*") if path.is_file()]
    files += _attachment_files()
    return database + b"".join(path.read_bytes() for path in files if path.exists())


def _attachment_files() -> list[Path]:
    """The attachments' encrypted files (this test process's own directory)."""
    return [path for path in settings.ATTACHMENT_STORAGE_DIR.rglob("*") if path.is_file()]


def _pieces(secret: bytes) -> list[bytes]:
    """A long value in overlapping pieces: SQLite splits a big row across overflow pages,
    so a whole value may never be contiguous in the file while a piece of it is."""
    if len(secret) <= 32:
        return [secret]
    return [secret[start : start + 32] for start in range(0, len(secret) - 31, 16)]


def _traces(disk: bytes, secrets: list[bytes]) -> list[bytes]:
    return [secret for secret in secrets if any(piece in disk for piece in _pieces(secret))]


def _forget_the_providers_side() -> None:
    """The sandbox's tables stand for Google's and Microsoft's servers, which keep the
    mailbox (Threadline never deletes a user's mail): they go before the scan."""
    # Later models refer to earlier ones (a mailbox to its tenant): delete them first.
    for model in reversed(list(apps.get_app_config("sandbox").get_models())):
        model._base_manager.all().delete()
    for model in apps.get_app_config("sandbox").get_models():
        assert not model._base_manager.exists(), model.__name__


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="the file scan is of SQLite's database file",
)
def test_nothing_of_the_mail_remains_in_the_database_file(world, other_team):
    known = _seed(world)
    ciphertexts = [value.encode() for value in _ciphertexts()]
    ciphertexts += [path.read_bytes() for path in _attachment_files()]
    others = _other_organisation(other_team)
    other_attachment = EmailAttachment.objects.get(message__thread=others)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT subject FROM {EmailThread._meta.db_table} WHERE id = %s",  # noqa: S608
            [others.pk.hex],
        )
        other_ciphertexts = [row[0].encode() for row in cursor.fetchall()]
    assert other_ciphertexts
    other_ciphertexts.append((settings.ATTACHMENT_STORAGE_DIR / other_attachment.blob).read_bytes())
    plaintexts = [
        known.subject.encode(),
        known.phrase.encode(),
        known.attachment,
        base64.b64encode(known.attachment),
        *(token.encode() for token in known.tokens),
    ]
    # Before: what the scan looks for is there (the ciphertexts of our own tables).
    before = _on_disk()
    assert len(_traces(before, ciphertexts)) == len(ciphertexts) > 5

    done = _purge_with_the_command("--organisation", "acme", "--yes")
    assert done.returncode == 0, done.stderr
    _forget_the_providers_side()

    after = _on_disk()
    assert _traces(after, ciphertexts) == []
    assert _traces(after, plaintexts) == []
    # The scan still sees what stays: the other organisation's encrypted subject.
    assert _traces(after, other_ciphertexts) == other_ciphertexts
