"""The candidate profile's Emails tab: who sees which thread, downloads, compose and reply
validation, sharing a thread, and what is stored encrypted.

Sending through a provider is covered by the Gmail sandbox end-to-end tests; here nothing
gets past validation or the mailbox check."""

import base64
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import dateformat, translation
from django.utils.dates import MONTHS_3

from accounts.models import Role
from candidates import policy
from candidates.models import CandidateEmail, EmailMessage, EmailThread
from mailsync.candidate_views import sent_at_shown
from mailsync.models import MailboxConnection
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
    UserFactory,
)

Visibility = EmailThread.Visibility
SUBJECTS = {
    "private": "Offer details (private)",
    "team": "Interview plan (team)",
    "secret": "Salary talk (secret)",
    "participant": "Reference check (secret, limited wrote)",
    "elsewhere": "Grace's onsite (team)",
}
# Which of Ada's threads each person sees on her Emails tab.
SEES_ON_ADA = {
    "owner": {"private", "team", "secret", "participant"},
    "colleague": {"team"},
    "admin": {"team", "secret", "participant"},
    "super_admin": {"team", "secret", "participant"},
    "limited": {"team", "participant"},
    "other_organisation": set(),
}


@pytest.fixture
def people(team, other_team):
    return {
        "owner": team.team_member,
        "colleague": UserFactory(
            organisation=team.organisation, role=Role.TEAM_MEMBER, email="colleague@acme.test"
        ),
        "admin": team.admin,
        "super_admin": team.super_admin,
        "limited": team.limited,
        "other_organisation": other_team.team_member,
    }


@pytest.fixture
def threads(team):
    """Four threads with Ada (on the limited member's posting) started by the team member,
    one with Grace (not on it); each with one message and one attachment. The limited
    member wrote in the "participant" thread."""
    owner = team.team_member
    visibility = {
        "private": Visibility.PRIVATE,
        "team": Visibility.TEAM,
        "secret": Visibility.SECRET,
        "participant": Visibility.SECRET,
        "elsewhere": Visibility.TEAM,
    }
    made = {}
    for key, subject in SUBJECTS.items():
        candidate = team.candidate_elsewhere if key == "elsewhere" else team.candidate_on_my_posting
        thread = EmailThreadFactory(
            candidate=candidate, owner=owner, visibility=visibility[key], subject=subject
        )
        message = EmailMessageFactory(thread=thread, body_text=f"Body of {subject}")
        EmailAttachmentFactory(message=message, filename=f"{key}.pdf")
        made[key] = thread
    EmailMessageFactory(
        thread=made["participant"],
        sender=team.limited,
        direction=EmailMessage.Direction.OUTBOUND,
        status=EmailMessage.Status.SENT,
    )
    return made


def emails_url(candidate):
    return reverse("mailsync:emails", args=[candidate.pk])


def attachment_url(thread):
    attachment = thread.messages.first().attachments.get()
    return reverse("candidates:attachment", args=[thread.candidate_id, attachment.pk])


# --- Who sees what ------------------------------------------------------------------------


@pytest.mark.parametrize("who", SEES_ON_ADA)
def test_each_person_sees_only_their_threads_on_the_emails_tab(
    team, people, threads, client_for, who
):
    response = client_for(people[who]).get(emails_url(team.candidate_on_my_posting))

    if who == "other_organisation":
        assert response.status_code == 404
        return
    body = response.content.decode()
    shown = {key for key in SEES_ON_ADA["owner"] if SUBJECTS[key] in body}
    assert shown == SEES_ON_ADA[who]
    assert response.context["threads"].paginator.count == len(SEES_ON_ADA[who])
    assert SUBJECTS["elsewhere"] not in body


@pytest.mark.parametrize(
    "who,count",
    [
        ("owner", 5),
        ("colleague", 2),
        ("admin", 4),
        ("super_admin", 4),
        ("limited", 2),
        ("other_organisation", 0),
    ],
)
def test_each_person_counts_only_the_threads_they_may_see(people, threads, who, count):
    assert policy.visible_threads(people[who]).count() == count


def test_limited_member_off_the_posting_sees_neither_tab_nor_attachments(team, threads, client_for):
    client = client_for(team.limited)

    assert client.get(emails_url(team.candidate_elsewhere)).status_code == 404
    assert client.get(attachment_url(threads["elsewhere"])).status_code == 404


def test_secret_thread_hides_from_a_colleague_until_they_write_in_it(team, people, threads):
    colleague = people["colleague"]
    assert not policy.visible_threads(colleague).filter(pk=threads["secret"].pk).exists()

    EmailMessageFactory(thread=threads["secret"], sender=colleague)

    assert policy.visible_threads(colleague).filter(pk=threads["secret"].pk).exists()


@pytest.mark.parametrize("who", SEES_ON_ADA)
def test_each_person_downloads_only_attachments_of_threads_they_see(
    people, threads, client_for, who
):
    client = client_for(people[who])

    statuses = {key: client.get(attachment_url(threads[key])).status_code for key in SUBJECTS}

    expected = {key: 200 if key in SEES_ON_ADA[who] else 404 for key in SEES_ON_ADA["owner"]}
    expected["elsewhere"] = 200 if who in {"owner", "colleague", "admin", "super_admin"} else 404
    assert statuses == expected


def test_owner_downloads_the_decrypted_bytes_as_an_attachment(team, client_for):
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    attachment = EmailAttachmentFactory(
        message=EmailMessageFactory(thread=thread),
        filename='../CV "final"\r\n.html',
        content_type="text/html",
        content=b"<script>alert(1)</script>",
    )

    response = client_for(team.team_member).get(
        reverse("candidates:attachment", args=[thread.candidate_id, attachment.pk])
    )

    assert response.status_code == 200
    assert response.content == b"<script>alert(1)</script>"
    assert response["Content-Type"] == "text/html"
    assert response["Content-Disposition"] == 'attachment; filename="CV _final_.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"


def test_attachment_is_not_found_under_another_candidates_address(team, threads, client_for):
    attachment = threads["team"].messages.first().attachments.get()

    response = client_for(team.team_member).get(
        reverse("candidates:attachment", args=[team.candidate_elsewhere.pk, attachment.pk])
    )

    assert response.status_code == 404


# --- The tab's contents -------------------------------------------------------------------


def test_recruiter_reads_messages_oldest_first_with_headers_status_and_attachments(
    team, client_for
):
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting, owner=team.team_member, subject="Next steps"
    )
    EmailMessageFactory(
        thread=thread,
        body_text="First message\nsecond line <b>not bold</b>",
        cc_header="Hiring Manager <hm@company.test>",
    )
    EmailMessageFactory(
        thread=thread,
        direction=EmailMessage.Direction.OUTBOUND,
        status=EmailMessage.Status.SENDING,
        body_text="Second message",
    )
    failed = EmailMessageFactory(
        thread=thread,
        direction=EmailMessage.Direction.OUTBOUND,
        status=EmailMessage.Status.FAILED,
        failure_reason="Your mailbox needs re-authorization.",
        body_text="Third message",
    )
    EmailAttachmentFactory(message=failed, filename="offer.pdf", content=b"x" * 2048)

    body = client_for(team.team_member).get(emails_url(thread.candidate)).content.decode()

    assert body.index("First message") < body.index("Second message") < body.index("Third")
    assert "second line &lt;b&gt;not bold&lt;/b&gt;" in body
    assert "First message<br>" in body
    assert "Hiring Manager &lt;hm@company.test&gt;" in body
    assert "Sending</p>" in body
    assert "Not sent: Your mailbox needs re-authorization." in body
    assert 'offer.pdf</a> <span class="muted">2.0\xa0KB</span>' in body
    assert "Private" in body


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_messages_date_reads_as_djangos_date_format_prints_it(language):
    moments = [
        datetime(year, month, day, hour, minute, tzinfo=UTC)
        for year, day, hour, minute in [(2026, 1, 0, 0), (999, 9, 9, 5), (2031, 28, 23, 59)]
        for month in range(1, 13)
    ]
    with translation.override(language):
        month_names = {month: MONTHS_3[month].title() for month in MONTHS_3}
        for moment in moments:
            assert sent_at_shown(moment, month_names) == dateformat.format(moment, "j M Y, H:i")
    # German's March tells the active language apart from English.
    assert (
        sent_at_shown(moments[2], month_names)
        == {"en": "1 Mar 2026, 00:00", "de": "1 Mär 2026, 00:00"}[language]
    )


def test_html_body_is_cleaned_and_remote_images_wait_for_the_viewer(team, client_for):
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    EmailMessageFactory(
        thread=thread,
        body_html='<p onmouseover="steal()">Hi</p><script>steal()</script>'
        '<img src="https://tracker.example/pixel.gif"><a href="javascript:steal()">x</a>',
    )

    body = client_for(team.team_member).get(emails_url(thread.candidate)).content.decode()

    assert "steal()" not in body
    assert 'data-remote-src="https://tracker.example/pixel.gif"' in body
    assert ' src="https://tracker.example' not in body
    assert "Load remote images</a>" in body


def test_threads_come_newest_first_ten_to_a_page(team, client_for):
    ada = team.candidate_on_my_posting
    for n in range(12):
        thread = EmailThreadFactory(candidate=ada, owner=team.team_member, subject=f"T{n:02d}")
        EmailMessageFactory(thread=thread)
        EmailThread.objects.filter(pk=thread.pk).update(
            last_message_at=thread.last_message_at.replace(year=2000 + n)
        )
    client = client_for(team.team_member)

    first = client.get(emails_url(ada)).context["threads"]
    second = client.get(emails_url(ada), {"page": 2}).context["threads"]

    assert [t.subject for t in first] == [f"T{n:02d}" for n in range(11, 1, -1)]
    assert [t.subject for t in second] == ["T01", "T00"]


def _tab_queries(client, candidate) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            emails_url(candidate), headers={"HX-Request": "true", "HX-Target": "profile-tab"}
        )
    assert response.status_code == 200
    return len(queries)


def test_emails_tab_reads_a_full_page_in_as_many_queries_as_one_thread(team, client_for):
    ada = team.candidate_on_my_posting
    client = client_for(team.team_member)

    def add_thread():
        thread = EmailThreadFactory(candidate=ada, owner=team.team_member)
        for _ in range(3):
            EmailAttachmentFactory.create_batch(2, message=EmailMessageFactory(thread=thread))

    add_thread()
    one_thread = _tab_queries(client, ada)
    for _ in range(11):
        add_thread()
    full_page = _tab_queries(client, ada)

    assert full_page == one_thread
    # Session, user, the candidate with addresses and postings (3), the user's mailbox
    # (read once for the layout's health banner and the tab's compose form), the user's
    # import job for the candidate, threads: count, page, messages, attachments, and the
    # viewer's seen marks on the threads new to them (one upsert).
    assert full_page <= 12


# --- Sharing ------------------------------------------------------------------------------


def _set_visibility(client, thread, visibility):
    action = {"team": "thread_share", "private": "thread_make_private"}[visibility]
    return client.post(reverse(f"candidates:{action}", args=[thread.candidate_id, thread.pk]))


def test_owner_shares_a_private_thread_and_then_a_colleague_sees_it(
    team, people, threads, client_for
):
    thread = threads["private"]

    response = _set_visibility(client_for(people["owner"]), thread, "team")

    assert response.status_code == 302
    assert response["Location"] == f"{emails_url(team.candidate_on_my_posting)}#thread-{thread.pk}"
    thread.refresh_from_db()
    assert thread.visibility == Visibility.TEAM
    tab = client_for(people["colleague"]).get(emails_url(team.candidate_on_my_posting))
    assert SUBJECTS["private"] in tab.content.decode()


def test_owner_makes_a_shared_thread_private_again(people, threads, client_for):
    _set_visibility(client_for(people["owner"]), threads["team"], "private")

    threads["team"].refresh_from_db()
    assert threads["team"].visibility == Visibility.PRIVATE


@pytest.mark.parametrize(
    "who,key,status",
    [
        ("colleague", "team", 403),
        ("admin", "secret", 403),
        ("super_admin", "team", 403),
        ("limited", "participant", 403),
        ("colleague", "private", 404),
        ("other_organisation", "team", 404),
    ],
)
def test_only_the_owner_changes_who_sees_a_thread(people, threads, client_for, who, key, status):
    before = threads[key].visibility

    response = _set_visibility(client_for(people[who]), threads[key], "private")

    assert response.status_code == status
    threads[key].refresh_from_db()
    assert threads[key].visibility == before


def test_owner_cannot_share_a_secret_thread_until_it_is_made_not_secret(
    team, people, threads, client_for
):
    owner = client_for(people["owner"])

    response = _set_visibility(owner, threads["secret"], "team")

    assert response.status_code == 302
    threads["secret"].refresh_from_db()
    assert threads["secret"].visibility == Visibility.SECRET
    page = owner.get(response["Location"]).content.decode()
    assert "This thread is secret: make it not secret first." in page


def test_only_the_owner_is_offered_the_sharing_buttons(team, people, threads, client_for):
    url = emails_url(team.candidate_on_my_posting)

    owner_view = client_for(people["owner"]).get(url).content.decode()
    colleague_view = client_for(people["colleague"]).get(url).content.decode()

    assert "Share with team</button>" in owner_view
    assert "Make private</button>" in owner_view
    assert "Share with team" not in colleague_view
    assert "Make private" not in colleague_view


# --- Encrypted at rest --------------------------------------------------------------------


def test_subjects_bodies_and_attachments_are_encrypted_at_rest(team):
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting, subject="Confidential offer for Ada"
    )
    message = EmailMessageFactory(
        thread=thread,
        body_text="Base salary of 123456",
        from_header="Ada <ada@acme-candidates.test>",
    )
    EmailAttachmentFactory(message=message, filename="ada-contract.pdf", content=b"SIGNED-HERE")

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT subject FROM {EmailThread._meta.db_table}")  # noqa: S608 (model's own table name)
        thread_rows = cursor.fetchall()
        cursor.execute(
            f"SELECT subject, body_text, from_header FROM {EmailMessage._meta.db_table}"  # noqa: S608 (model's own table name)
        )
        message_rows = cursor.fetchall()
        cursor.execute("SELECT filename FROM candidates_emailattachment")
        attachment_rows = cursor.fetchall()

    raw = repr(thread_rows + message_rows + attachment_rows)
    assert thread_rows and message_rows and attachment_rows
    for plaintext in ("Confidential offer", "123456", "ada@acme", "ada-contract", "SIGNED"):
        assert plaintext not in raw
    assert base64.b64encode(b"SIGNED-HERE").decode() not in raw
    thread.refresh_from_db()
    assert thread.subject == "Confidential offer for Ada"


# --- Compose and reply --------------------------------------------------------------------


@pytest.fixture
def connected(team):
    return MailboxConnectionFactory(user=team.team_member)


def _nothing_was_sent(team, addresses_before=1):
    assert EmailThread.objects.count() == 0
    assert EmailMessage.objects.count() == 0
    assert team.candidate_on_my_posting.emails.count() == addresses_before


def _compose(client, candidate, **data):
    fields = {"to": "ada@acme-candidates.test", "subject": "Hi", "body_text": "Hello"}
    return client.post(reverse("mailsync:email_send", args=[candidate.pk]), fields | data)


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"to": "not an address"}, "to", "Enter a valid email address."),
        ({"to": "a@x.test, b@x.test"}, "to", "Enter a valid email address."),
        ({"to": ""}, "to", "This field is required."),
        ({"to": "grace@acme-candidates.test"}, "to", "Another candidate already has this address."),
        ({"cc": "ok@x.test, not-one"}, "cc", "Not a valid email address: not-one."),
        ({"bcc": "a@x.test;@x.test"}, "bcc", "Not a valid email address: @x.test."),
        ({"subject": "  "}, "subject", "This field is required."),
        ({"body_text": ""}, "body_text", "This field is required."),
    ],
)
def test_invalid_compose_shows_field_errors_and_sends_nothing(
    team, connected, client_for, data, field, message
):
    response = _compose(client_for(team.team_member), team.candidate_on_my_posting, **data)

    assert response.status_code == 200
    assert message in response.context["compose_form"].errors[field][0]
    assert message.replace("'", "&#x27;") in response.content.decode()
    _nothing_was_sent(team)


def test_attachments_over_25_mb_in_total_are_refused(team, connected, client_for):
    half = 13 * 1024 * 1024
    files = [
        SimpleUploadedFile(f"part{n}.bin", b"x" * half, "application/octet-stream")
        for n in range(2)
    ]

    response = _compose(
        client_for(team.team_member), team.candidate_on_my_posting, attachments=files
    )

    assert response.status_code == 200
    errors = response.context["compose_form"].errors["attachments"]
    assert errors == ["Attachments may add up to 25.0\xa0MB at most."]
    _nothing_was_sent(team)


def test_invalid_reply_comes_back_open_on_its_thread(team, connected, client_for):
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    EmailMessageFactory(thread=thread)
    url = reverse("mailsync:email_reply", args=[thread.candidate_id, thread.pk])

    response = client_for(team.team_member).post(
        url, {"to": "ada@acme-candidates.test", "body_text": ""}
    )

    assert response.status_code == 200
    [shown] = response.context["threads"]
    assert shown.reply_form.errors["body_text"] == ["This field is required."]
    assert not response.context["compose_form"].is_bound
    assert thread.messages.count() == 1


def test_reply_to_a_thread_the_user_cannot_see_is_not_found(
    team, people, threads, connected, client_for
):
    client = client_for(people["colleague"])
    data = {"to": "ada@acme-candidates.test", "body_text": "Hi"}
    private = threads["private"]
    graces = threads["elsewhere"]

    hidden = client.post(
        reverse("mailsync:email_reply", args=[private.candidate_id, private.pk]), data
    )
    wrong_candidate = client.post(
        reverse("mailsync:email_reply", args=[private.candidate_id, graces.pk]), data
    )

    assert hidden.status_code == 404
    assert wrong_candidate.status_code == 404
    assert EmailMessage.objects.count() == 6


def test_compose_without_a_connected_mailbox_is_shown_disabled(team, client_for):
    body = client_for(team.team_member).get(emails_url(team.candidate_on_my_posting))

    html = body.content.decode()
    assert "<fieldset disabled>" in html
    assert "connect your mailbox under" in html
    assert f'href="{reverse("mailsync:my_account")}"' in html


def test_compose_with_a_mailbox_needing_reauthorization_is_shown_disabled(team, client_for):
    MailboxConnectionFactory(
        user=team.team_member, state=MailboxConnection.State.NEEDS_REAUTHORIZATION
    )

    response = client_for(team.team_member).get(emails_url(team.candidate_on_my_posting))

    assert response.context["mailbox"] is None
    assert "<fieldset disabled>" in response.content.decode()


def test_compose_with_a_connected_mailbox_names_the_sending_address(team, connected, client_for):
    html = client_for(team.team_member).get(emails_url(team.candidate_on_my_posting)).content

    assert b"<fieldset disabled>" not in html
    assert b"From your mailbox <strong>team_member@acme.test</strong>" in html


def test_sending_without_a_connected_mailbox_says_why_and_sends_nothing(team, client_for):
    response = _compose(client_for(team.team_member), team.candidate_on_my_posting, to="new@x.test")

    assert response.status_code == 200
    assert response.context["compose_form"].non_field_errors() == [
        "Connect your mailbox under Settings › My account to send email."
    ]
    _nothing_was_sent(team)
    assert not CandidateEmail.objects.filter(address="new@x.test").exists()


def test_compose_only_accepts_posts(team, client_for):
    url = reverse("mailsync:email_send", args=[team.candidate_on_my_posting.pk])

    assert client_for(team.team_member).get(url).status_code == 405
