"""Seeding a recruiter's sandbox mailbox with conversations at given dates, for the
automatic ingestion tests (straight into the sandbox, as an old mailbox is)."""

import email.policy
import email.utils
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as Mime

from sandbox import services as sandbox

# "Now" in these tests: the moment the recruiter authorizes.
NOW = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def mail(
    world,
    *,
    sender: str,
    to: list[str],
    at: datetime,
    subject: str,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    replying_to: str = "",
    message_id: str = "",
    body: str = "Hello.",
) -> str:
    """One message in the recruiter's mailbox (Sent when the recruiter wrote it, else the
    Inbox), dated `at`. Returns its Message-ID."""
    message = Mime(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if bcc:
        message["Bcc"] = ", ".join(bcc)
    message["Subject"] = subject if not replying_to else f"Re: {subject}"
    message["Date"] = email.utils.format_datetime(at)
    message_id = message_id or email.utils.make_msgid(domain="mail.test")
    message["Message-ID"] = message_id
    if replying_to:
        message["In-Reply-To"] = replying_to
        message["References"] = replying_to
    message.set_content(body)
    sent = sender == world.recruiter.email
    sandbox.message_insert(
        mailbox=world.recruiter_box,
        raw=message.as_bytes(),
        labels=["SENT"] if sent else ["INBOX"],
        internal_date=int(at.timestamp() * 1000),
    )
    return message_id


def conversation(
    world,
    counterpart: str,
    subject: str,
    dates: list[datetime],
    *,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    first_id: str = "",
) -> list[str]:
    """A conversation between the recruiter and `counterpart`, one message per date, the
    counterpart writing first, each a reply to the one before. `cc`/`bcc` on the first."""
    ids: list[str] = []
    for index, at in enumerate(dates):
        theirs = index % 2 == 0
        ids.append(
            mail(
                world,
                sender=counterpart if theirs else world.recruiter.email,
                to=[world.recruiter.email if theirs else counterpart],
                at=at,
                subject=subject,
                cc=cc if index == 0 else (),
                bcc=bcc if index == 0 else (),
                replying_to=ids[-1] if ids else "",
                message_id=first_id if index == 0 else "",
                body=f"{subject}, message {index}.",
            )
        )
    return ids
