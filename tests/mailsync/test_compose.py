"""Compose that never loses work, on Gmail and on Outlook alike: Cc and Bcc reach the
message; a refused form comes back with its text and its files kept; large attachments
go through as each provider takes them (Graph: upload sessions in ranges of at most 4 MB;
Gmail: a media upload); a second submit of the same form sends nothing twice."""

import email
import email.policy
import hashlib
import os
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from candidates.models import EmailMessage, EmailThread
from core.attachment_storage import attachment_blob_write
from mailsync.models import DraftAttachment
from mailsync.services import draft_attachments_clean_up
from sandbox import services as sandbox
from sandbox.models import Message, RequestLog
from tests.factories import EmailMessageFactory, EmailThreadFactory, MailboxConnectionFactory
from tests.mailsync.test_limited_sync import _limited

MB = 1024 * 1024


@pytest.fixture
def large_files(settings):
    """Tens of megabytes through the sandbox's SQLite take longer than the 5 s the mail
    tests otherwise allow a provider call; Threadline's own default is 30 s."""
    settings.MAILSYNC_HTTP_TIMEOUT = 60


def _send(world, **data):
    fields = {
        "to": world.candidate_address,
        "subject": "Platform Engineer at Acme",
        "body_text": "The offer letter is attached.",
    }
    return world.client.post(
        reverse("mailsync:email_send", args=[world.candidate.pk]), fields | data
    )


def _file(name: str, size: int, content_type: str = "application/pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, os.urandom(size), content_type)


def _attachments(message: Message) -> dict[str, bytes]:
    parsed = email.message_from_bytes(bytes(message.raw), policy=email.policy.default)
    return {str(part.get_filename()): part.get_content() for part in parsed.iter_attachments()}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cc_and_bcc_reach_the_message_and_bcc_stays_hidden(world):
    world.connect()
    colleague = sandbox.mailbox_create(address="hiring.manager@acme.test")
    silent = sandbox.mailbox_create(address="archive@acme.test")

    sent = _send(world, cc="Hiring.Manager@acme.test", bcc="archive@acme.test")

    assert sent.status_code == 302
    sent_copy = world.latest_in(world.recruiter_box)
    headers = dict(sent_copy.headers)
    assert headers["Cc"] == "hiring.manager@acme.test"
    assert headers["Bcc"] == "archive@acme.test"
    for box in (world.candidate_box, colleague, silent):
        delivered = world.latest_in(box)
        assert delivered.subject == "Platform Engineer at Acme"
        assert "Bcc" not in dict(delivered.headers)
    assert dict(world.latest_in(world.candidate_box).headers)["Cc"] == "hiring.manager@acme.test"
    message = EmailMessage.objects.get()
    assert message.cc_header == "hiring.manager@acme.test"
    # Only a To address joins the profile; Cc and Bcc addresses do not.
    assert list(world.candidate.emails.values_list("address", flat=True)) == [
        world.candidate_address
    ]


def test_a_new_to_address_is_added_to_the_profile_when_sent(world):
    world.connect()
    sandbox.mailbox_create(address="ada.private@home.test")
    page = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk])).content
    assert b"is added to it when you send" in page

    assert _send(world, to="Ada.Private@home.test").status_code == 302

    assert world.candidate.emails.filter(address="ada.private@home.test").exists()


def test_a_refused_form_keeps_its_text_and_files_and_the_next_try_sends_them(world):
    world.connect()
    cv = _file("cv.pdf", 300_000)

    refused = _send(world, cc="not an address", body_text="Keep this text", attachments=[cv])

    assert refused.status_code == 200
    form = refused.context["compose_form"]
    assert form.errors["cc"] == ["Not a valid email address: not, an, address."]
    html = refused.content.decode()
    assert "Keep this text" in html
    [kept] = DraftAttachment.objects.filter(user=world.recruiter)
    assert kept.filename == "cv.pdf" and kept.size == 300_000
    assert f'name="keep" value="{kept.pk}"' in html
    assert "cv.pdf" in html and "293.0\xa0KB" in html
    assert EmailThread.objects.count() == 0

    sent = _send(world, body_text="Keep this text", keep=[str(kept.pk)])

    assert sent.status_code == 302
    delivered = world.latest_in(world.candidate_box)
    assert _digest(_attachments(delivered)["cv.pdf"]) == _digest(cv.file.getvalue())
    assert not DraftAttachment.objects.exists()
    assert EmailMessage.objects.get().attachments.get().filename == "cv.pdf"


def test_a_provider_refusal_keeps_the_text_and_files_and_the_same_form_sends_again(world):
    world.connect()
    sandbox.fault_set(mailbox=world.recruiter_box, status=500, count=1)

    refused = _send(world, attachments=[_file("cv.pdf", 1000)], send_token="form-1")

    assert refused.status_code == 200
    assert refused.context["compose_form"].non_field_errors()
    assert "The offer letter is attached." in refused.content.decode()
    kept = DraftAttachment.objects.get()
    assert kept.filename == "cv.pdf"
    assert EmailThread.objects.count() == 0

    sent = _send(world, keep=[str(kept.pk)], send_token="form-1")

    assert sent.status_code == 302
    assert "cv.pdf" in _attachments(world.latest_in(world.candidate_box))
    assert not DraftAttachment.objects.exists()


def test_over_the_limit_in_total_is_refused_and_every_file_is_kept(world, large_files):
    world.connect()
    first = _file("portfolio.pdf", 14 * MB)
    second = _file("reel.mov", 12 * MB, "video/quicktime")

    refused = _send(world, attachments=[first, second])

    assert refused.status_code == 200
    errors = refused.context["compose_form"].errors["attachments"]
    assert errors == ["Attachments may add up to 25.0\xa0MB at most."]
    kept = {k.filename: k for k in DraftAttachment.objects.all()}
    assert set(kept) == {"portfolio.pdf", "reel.mov"}
    html = refused.content.decode()
    assert html.count('name="keep"') == 2
    assert EmailThread.objects.count() == 0

    # Unticking one of them is enough to send the other.
    sent = _send(world, keep=[str(kept["portfolio.pdf"].pk)])

    assert sent.status_code == 302
    assert set(_attachments(world.latest_in(world.candidate_box))) == {"portfolio.pdf"}


def test_a_blocked_file_type_is_refused_and_the_other_files_kept(world):
    world.connect()

    refused = _send(world, attachments=[_file("setup.exe", 100), _file("cv.pdf", 100)])

    assert refused.status_code == 200
    [error] = refused.context["compose_form"].errors["attachments"]
    assert error == "setup.exe: this type of file (.exe) cannot be sent by email."
    assert list(DraftAttachment.objects.values_list("filename", flat=True)) == ["cv.pdf"]


def test_the_same_form_submitted_twice_sends_once(world):
    world.connect()
    token = (
        world.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
        .context["compose_form"]["send_token"]
        .initial
    )

    first = _send(world, send_token=token)
    second = _send(world, send_token=token)

    assert first.status_code == second.status_code == 302
    assert EmailMessage.objects.count() == 1
    assert Message.objects.filter(mailbox=world.candidate_box).count() == 1


def test_outlook_sends_5_and_20_mb_files_through_upload_sessions(outlook_world, large_files):
    world = outlook_world
    world.connect()
    five, twenty = _file("five.pdf", 5 * MB), _file("twenty.zip", 20 * MB, "application/zip")

    sent = _send(world, attachments=[five, twenty])

    assert sent.status_code == 302
    delivered = _attachments(world.latest_in(world.candidate_box))
    assert _digest(delivered["five.pdf"]) == _digest(five.file.getvalue())
    assert _digest(delivered["twenty.zip"]) == _digest(twenty.file.getvalue())
    log = world.log()
    assert log.filter(operation="graph.attachments.createUploadSession", status=201).count() == 2
    puts = RequestLog.objects.filter(
        mailbox=world.recruiter_box, operation="outlook.attachmentSessions.put"
    )
    assert sum(p.request_bytes for p in puts) == 25 * MB
    assert all(0 < p.request_bytes <= 4 * MB for p in puts)
    assert [p.status for p in puts].count(201) == 2
    assert puts.count() == 2 + 6  # 5 MB in two ranges, 20 MB in six (3.75 MB each)
    # The draft itself went without the files, well under Graph's 4 MB.
    create = log.get(operation="graph.messages.create")
    assert create.request_bytes < 4 * MB
    assert not log.filter(status=413).exists()
    assert log.filter(operation="graph.messages.send", status=202).count() == 1


def test_outlook_sends_a_small_file_in_one_request(outlook_world):
    world = outlook_world
    world.connect()

    assert _send(world, attachments=[_file("cv.pdf", 200_000)]).status_code == 302

    assert not world.log(operation="graph.attachments.createUploadSession").exists()
    assert "cv.pdf" in _attachments(world.latest_in(world.candidate_box))


def test_outlook_under_limited_sync_refuses_a_message_over_4_mb_as_a_field_error(outlook_world):
    world = outlook_world
    _limited(world)
    world.connect()

    refused = _send(world, attachments=[_file("scan.pdf", 5 * MB)])

    assert refused.status_code == 200
    assert refused.context["compose_form"].errors["attachments"] == [
        "The mail provider refused the message as too large; attach fewer or smaller files."
    ]
    assert DraftAttachment.objects.get().filename == "scan.pdf"
    assert not world.log(operation="graph.sendMail").exists()
    assert EmailThread.objects.count() == 0


def test_gmail_sends_a_20_mb_file(gmail_world, large_files):
    world = gmail_world
    world.connect()
    twenty = _file("twenty.zip", 20 * MB, "application/zip")

    assert _send(world, attachments=[twenty]).status_code == 302

    delivered = _attachments(world.latest_in(world.candidate_box))
    assert _digest(delivered["twenty.zip"]) == _digest(twenty.file.getvalue())
    [upload] = world.log(operation="gmail.users.messages.send")
    assert upload.path.startswith("/sandbox/google/upload/gmail/v1/")
    assert upload.status == 200


def test_kept_files_older_than_a_day_are_cleaned_up(team, transactional_db, attachment_files):
    old = DraftAttachment.objects.create(
        user=team.team_member, filename="old.pdf", size=1, blob=attachment_blob_write(b"x")
    )
    DraftAttachment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    fresh = DraftAttachment.objects.create(
        user=team.team_member, filename="new.pdf", size=1, blob=attachment_blob_write(b"x")
    )

    assert draft_attachments_clean_up() == 1

    assert list(DraftAttachment.objects.all()) == [fresh]
    # The stored file goes with its row, and only that one.
    assert not (attachment_files / old.blob).exists()
    assert (attachment_files / fresh.blob).exists()


def test_an_upload_too_large_to_read_comes_back_as_the_emails_tab_saying_why(
    team, client_for, settings
):
    client = client_for(team.team_member)
    tab = reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk])
    too_large = settings.UPLOAD_POST_MAX_BYTES + 1

    refused = client.post(
        reverse("mailsync:email_send", args=[team.candidate_on_my_posting.pk]),
        {"to": "ada@acme-candidates.test", "body_text": "Hello"},
        CONTENT_LENGTH=str(too_large),
        HTTP_REFERER=f"http://testserver{tab}?page=2",
    )

    assert refused.status_code == 303
    assert refused["Location"] == f"http://testserver{tab}?page=2&upload-too-large"
    page = client.get(refused["Location"])
    assert page.status_code == 200
    assert "its files were too large to upload" in page.content.decode()
    assert "too large" not in client.get(tab).content.decode()


def test_an_oversized_upload_from_elsewhere_is_refused_plainly(team, client_for, settings):
    refused = client_for(team.team_member).post(
        reverse("mailsync:email_send", args=[team.candidate_on_my_posting.pk]),
        {"to": "ada@acme-candidates.test"},
        CONTENT_LENGTH=str(settings.UPLOAD_POST_MAX_BYTES + 1),
        HTTP_REFERER="https://elsewhere.test/",
    )

    assert refused.status_code == 413


def test_a_reply_shows_one_recipient_control(team, client_for):
    MailboxConnectionFactory(user=team.team_member)
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    EmailMessageFactory(thread=thread)

    client = client_for(team.team_member)
    tab = client.get(reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk]))
    form_url = reverse(
        "mailsync:email_reply_form", args=[team.candidate_on_my_posting.pk, thread.pk]
    )
    # The tab builds no reply form; opening Reply asks for it.
    assert 'name="body_text"' not in tab.content.decode().split(f'id="thread-{thread.pk}"')[1]
    assert f'hx-get="{form_url}?page=1"' in tab.content.decode()

    reply = client.get(form_url, headers={"HX-Request": "true"}).content.decode()
    reply = reply[: reply.index("</form>")]
    assert reply.count('name="to"') == 1
    assert 'name="cc"' in reply and 'name="bcc"' in reply
    assert f'list="id_{thread.pk.hex}_to-addresses"' in reply


def test_a_kept_file_that_is_gone_is_asked_for_again(team, client_for):
    MailboxConnectionFactory(user=team.team_member)
    someone_elses = DraftAttachment.objects.create(
        user=team.admin, filename="theirs.pdf", size=1, blob=attachment_blob_write(b"x")
    )

    response = client_for(team.team_member).post(
        reverse("mailsync:email_send", args=[team.candidate_on_my_posting.pk]),
        {
            "to": "ada@acme-candidates.test",
            "subject": "Hi",
            "body_text": "Hello",
            "keep": [str(someone_elses.pk), "not-a-uuid"],
        },
    )

    assert response.status_code == 200
    assert response.context["compose_form"].errors["attachments"] == [
        "A file kept from an earlier try is no longer available; attach it again."
    ]
    assert "theirs.pdf" not in response.content.decode()
    assert not EmailThread.objects.exists()
