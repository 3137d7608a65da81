"""HTML replies, stored through the routed-reply webhook and read on the Emails tab (issue 9,
observation 4): HTML is cleaned once when stored; HTML over the size or nesting caps is
shown as its text, with the original offered as a download that only people who may see
the thread can fetch."""

import email.policy
import email.utils
from email.message import EmailMessage as Mime

import pytest
from django.urls import reverse

from candidates.models import EmailMessage
from candidates.rendering import MAX_HTML_CHARS, MAX_HTML_DEPTH

NESTED_1MB = "<div>" * (1024 * 1024 // 5)
# Under the size cap, over the nesting cap: the shape that made each view take 53 s.
NESTED_100KB = "<div>" * (100 * 1024 // 5)
TRACKING_HTML = (
    '<p onmouseover="steal()">Hi Sam,</p><script>steal()</script>'
    '<img src="https://tracker.example/pixel.gif"><a href="javascript:steal()">x</a>'
)


def html_reply(routed, *, html: str, text: str | None) -> bytes:
    """A reply with an HTML part, and a text part unless `text` is None."""
    reply = Mime(policy=email.policy.SMTP)
    reply["From"] = f"Ada Visible <{routed.candidate_address}>"
    reply["To"] = routed.recruiter.email
    reply["Subject"] = f"Re: {routed.first.subject}"
    reply["Date"] = email.utils.formatdate(localtime=False)
    reply["Message-ID"] = email.utils.make_msgid(domain="mail.example.org")
    reply["In-Reply-To"] = routed.first.message_id
    reply["References"] = routed.first.message_id
    if text is None:
        reply.set_content(html, subtype="html")
    else:
        reply.set_content(text)
        reply.add_alternative(html, subtype="html")
    return reply.as_bytes()


def store(routed, **reply) -> EmailMessage:
    response = routed.post(html_reply(routed, **reply))
    assert response.json() == {"status": "stored", "reason": "stored"}
    return routed.stored().get()


def original_html_url(message: EmailMessage) -> str:
    return reverse(
        "candidates:message_original_html", args=[message.thread.candidate_id, message.pk]
    )


def test_the_caps_are_those_the_tests_cross():
    assert len(NESTED_1MB) > MAX_HTML_CHARS > len(NESTED_100KB)
    assert NESTED_100KB.count("<div>") > MAX_HTML_DEPTH


@pytest.mark.parametrize("html", [NESTED_1MB, NESTED_100KB], ids=["1MB", "100KB"])
def test_a_deeply_nested_reply_shows_its_text_and_offers_the_original(
    routed, client_for, emails_tab, html
):
    message = store(routed, html=html, text="Thanks, Tuesday works for me.")

    page = client_for(routed.recruiter).get(emails_tab)

    assert page.status_code == 200
    content = page.content.decode()
    assert "Thanks, Tuesday works for me." in content
    assert "<div><div>" not in content
    assert "too complex to show safely" in content
    link = f'href="{original_html_url(message)}" download>Download original HTML</a>'
    assert link in content
    download = client_for(routed.recruiter).get(original_html_url(message))
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="message-{message.pk}.html"'
    assert download["Content-Type"] == "text/plain; charset=utf-8"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download.content.decode().strip() == html


def test_a_nested_reply_without_a_text_part_shows_its_visible_text(routed, client_for, emails_tab):
    html = (
        "<style>p { color: red }</style>"
        + "<div>" * 2000
        + "<p>Tuesday <b>works</b> &amp; suits me</p><script>steal()</script>"
    )
    message = store(routed, html=html, text=None)

    content = client_for(routed.recruiter).get(emails_tab).content.decode()

    assert message.html_too_complex
    assert "<p>Tuesday works &amp; suits me</p>" in content
    assert "color: red" not in content
    assert "steal()" not in content
    assert "Download original HTML" in content


def test_html_is_cleaned_when_the_reply_is_stored(routed):
    message = store(routed, html=TRACKING_HTML, text="Hi Sam,")

    assert not message.html_too_complex
    assert message.has_remote_images
    assert "steal()" not in message.body_html_display
    assert 'data-remote-src="https://tracker.example/pixel.gif"' in message.body_html_display
    assert " src=" not in message.body_html_display
    # The original is kept as it came, for its download.
    assert "<script>steal()</script>" in message.body_html


def test_a_normal_html_reply_is_shown_cleaned_with_its_images_held_back(
    routed, client_for, emails_tab
):
    store(routed, html=TRACKING_HTML, text="Hi Sam,")

    content = client_for(routed.recruiter).get(emails_tab).content.decode()

    assert "<p>Hi Sam,</p>" in content
    assert "steal()" not in content
    assert 'data-remote-src="https://tracker.example/pixel.gif"' in content
    assert ' src="https://tracker.example' not in content
    assert "Load remote images</a>" in content
    assert "Download original HTML" not in content


def test_people_who_may_not_see_the_thread_get_404_for_its_original_html(
    routed, client_for, other_team, team
):
    message = store(routed, html=NESTED_100KB, text="Thanks.")
    url = original_html_url(message)

    # The thread is private to the recruiter who started it: not even an Admin sees it.
    assert client_for(team.admin).get(url).status_code == 404
    assert client_for(other_team.super_admin).get(url).status_code == 404
    assert client_for(routed.recruiter).get(url).status_code == 200


def test_the_original_html_is_only_found_under_its_own_candidate(routed, client_for, team):
    message = store(routed, html=NESTED_100KB, text="Thanks.")
    wrong = reverse(
        "candidates:message_original_html", args=[team.candidate_elsewhere.pk, message.pk]
    )

    assert client_for(routed.recruiter).get(wrong).status_code == 404


def test_a_message_without_html_has_no_original_to_download(routed, client_for):
    assert client_for(routed.recruiter).get(original_html_url(routed.first)).status_code == 404
