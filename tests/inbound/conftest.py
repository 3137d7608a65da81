"""A thread that Threadline started, replies to it written by mail clients, and posts of
those replies built exactly as Mailgun's route `forward()` builds them."""

import email.policy
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage as Mime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import Organisation, User
from candidates.models import Candidate, EmailMessage, EmailThread
from mailsync.ingest import message_store
from mailsync.mime import build_message, parse_message
from mailsync.threadref import new_message_id, thread_ref
from sandbox.mailgun import signed_fields

MIME_URL = "/anymail/mailgun/inbound_mime/"
PARSED_URL = "/anymail/mailgun/inbound/"


def reply_to(
    message: EmailMessage,
    *,
    sender: str,
    to: str,
    body: str = "Thanks, Tuesday works for me.",
    attachment: tuple[str, bytes] | None = None,
    references: str | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    """A reply as a mail client writes it: its own Message-ID, ours in the references."""
    reply = Mime(policy=email.policy.SMTP)
    reply["From"] = sender
    reply["To"] = to
    reply["Subject"] = f"Re: {message.subject}"
    reply["Date"] = email.utils.formatdate(localtime=False)
    reply["Message-ID"] = email.utils.make_msgid(domain="mail.example.org")
    reply["In-Reply-To"] = message.message_id if in_reply_to is None else in_reply_to
    reply["References"] = message.message_id if references is None else references
    reply.set_content(body)
    if attachment:
        name, content = attachment
        reply.add_attachment(content, maintype="application", subtype="pdf", filename=name)
    return reply.as_bytes()


@dataclass
class Routed:
    """An organisation on limited sync with one thread a recruiter started."""

    organisation: Organisation
    recruiter: User
    candidate: Candidate
    candidate_address: str
    thread: EmailThread
    first: EmailMessage
    client: Client

    def post(self, raw: bytes, *, url: str = MIME_URL, recipient: str | None = None, **fields):
        data = signed_fields(
            raw=raw,
            recipient=self.organisation.inbound_address if recipient is None else recipient,
            sender=email.utils.parseaddr(str(email.message_from_bytes(raw).get("From", "")))[1]
            or "postmaster@example.org",
            signing_key=settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] or "",
            timestamp=fields.pop("timestamp", None),
            token=fields.pop("token", None),
        )
        data.update(fields)
        return self.client.post(url, {k: v for k, v in data.items() if v is not None})

    def candidate_reply(self, **kwargs) -> bytes:
        return reply_to(
            self.first,
            sender=f"Ada Visible <{self.candidate_address}>",
            to=self.recruiter.email,
            **kwargs,
        )

    def stored(self):
        return EmailMessage.objects.filter(thread=self.thread).exclude(pk=self.first.pk)


def start_thread(organisation, recruiter, candidate, address) -> tuple[EmailThread, EmailMessage]:
    """What sending from Threadline leaves behind: a thread and its first message."""
    thread = EmailThread.objects.create(
        organisation=organisation, candidate=candidate, owner=recruiter, subject="Platform role"
    )
    raw = build_message(
        from_address=recruiter.email,
        from_name=recruiter.full_name,
        to=[address],
        subject="Platform role",
        body_text="Would you like to talk?",
        message_id=new_message_id(thread.pk),
        threadline_ref=thread_ref(thread.pk),
    )
    first = message_store(thread=thread, parsed=parse_message(raw), author=recruiter).message
    return thread, first


@pytest.fixture
def routed(team) -> Routed:
    organisation = team.organisation
    organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    organisation.save(update_fields=["email_sync_level"])
    candidate = team.candidate_on_my_posting
    address = candidate.emails.get().address
    thread, first = start_thread(organisation, team.team_member, candidate, address)
    return Routed(
        organisation=organisation,
        recruiter=team.team_member,
        candidate=candidate,
        candidate_address=address,
        thread=thread,
        first=first,
        client=Client(),
    )


@pytest.fixture
def emails_tab(routed):
    return reverse("mailsync:emails", args=[routed.candidate.pk])
