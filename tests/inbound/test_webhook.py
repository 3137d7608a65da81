"""The Mailgun inbound webhook, posted to as Mailgun posts: multipart form fields with the
raw message in `body-mime` (or Mailgun's parsed fields), signed with HMAC-SHA256 over
timestamp and token."""

import json
import time

import pytest

from candidates.models import EmailAttachment, EmailMessage, EmailThread
from inbound.models import DailyTally, WebhookToken
from mailsync.threadref import new_message_id
from sandbox.mime import dkim_sign
from tests.factories import CandidateFactory, UserFactory
from tests.inbound.conftest import PARSED_URL, reply_to, start_thread


def _tally(organisation, outcome) -> int:
    row = DailyTally.objects.filter(organisation=organisation, outcome=outcome).first()
    return row.count if row else 0


def test_a_candidate_reply_is_stored_on_its_thread(routed, client_for, emails_tab):
    raw = routed.candidate_reply(attachment=("portfolio.pdf", b"%PDF-1.4 portfolio"))

    response = routed.post(raw)

    assert response.status_code == 200
    assert response.json() == {"status": "stored", "reason": "stored"}
    reply = routed.stored().get()
    assert reply.direction == EmailMessage.Direction.INBOUND
    assert reply.sender is None
    assert reply.from_header == f"Ada Visible <{routed.candidate_address}>"
    assert reply.to_header == routed.recruiter.email
    assert reply.body_text.strip() == "Thanks, Tuesday works for me."
    attachment = EmailAttachment.objects.get(message=reply)
    assert (attachment.filename, attachment.size) == ("portfolio.pdf", 18)
    page = client_for(routed.recruiter).get(emails_tab).content.decode()
    assert "Thanks, Tuesday works for me." in page
    assert _tally(routed.organisation, "stored") == 1


def _users_reply(routed, **kwargs) -> bytes:
    return reply_to(
        routed.first,
        sender=f"{routed.recruiter.full_name} <{routed.recruiter.email}>",
        to=routed.candidate_address,
        body="Great, I have sent an invitation.",
        **kwargs,
    )


def test_the_users_own_reply_from_their_mailbox_is_stored_as_theirs(routed):
    # Their mail system signs what they send for their domain; the relay verifies it.
    raw = dkim_sign(_users_reply(routed), domain=routed.recruiter.email.split("@")[1])

    assert routed.post(raw).status_code == 200

    reply = routed.stored().get()
    assert reply.direction == EmailMessage.Direction.OUTBOUND
    assert reply.sender == routed.recruiter


@pytest.mark.parametrize(
    "sign_as",
    [None, "people.test"],
    ids=["unsigned", "signed-by-another-domain"],
)
def test_a_from_header_naming_a_user_does_not_make_them_its_author(routed, sign_as):
    raw = _users_reply(routed)
    if sign_as:
        raw = dkim_sign(raw, domain=sign_as)

    assert routed.post(raw).status_code == 200

    reply = routed.stored().get()
    assert reply.direction == EmailMessage.Direction.INBOUND
    assert reply.sender is None


def test_without_a_trusted_relay_no_routed_message_counts_as_a_users(routed, settings):
    raw = dkim_sign(_users_reply(routed), domain=routed.recruiter.email.split("@")[1])
    settings.INBOUND_AUTHSERV_ID = ""  # production's default: no relay configured

    assert routed.post(raw).status_code == 200

    reply = routed.stored().get()
    assert (reply.direction, reply.sender) == (EmailMessage.Direction.INBOUND, None)


def test_an_authentication_result_written_by_the_sender_proves_nothing(routed, settings):
    forged = (
        f"Authentication-Results: {settings.INBOUND_AUTHSERV_ID}; "
        f"dkim=pass header.d={routed.recruiter.email.split('@')[1]}\r\n"
    ).encode()

    assert routed.post(forged + _users_reply(routed)).status_code == 200

    reply = routed.stored().get()
    assert reply.direction == EmailMessage.Direction.INBOUND
    assert reply.sender is None


def test_a_users_reply_to_a_thread_they_may_not_see_stays_in_their_own_private_thread(
    routed, client_for, emails_tab
):
    colleague = UserFactory(
        organisation=routed.organisation, email="colleague@acme.test", full_name="Col League"
    )
    raw = reply_to(
        routed.first,
        sender=f"Col League <{colleague.email}>",
        to=routed.candidate_address,
        body="Adding my thoughts.",
    )

    assert routed.post(dkim_sign(raw, domain="acme.test")).status_code == 200

    assert not routed.stored().exists()
    theirs = EmailMessage.objects.get(sender=colleague)
    assert theirs.thread.owner == colleague
    assert theirs.thread.visibility == "private"
    assert theirs.thread.candidate == routed.candidate
    owners_view = client_for(routed.recruiter).get(emails_tab).content.decode()
    assert "Adding my thoughts." not in owners_view
    assert "Adding my thoughts." in client_for(colleague).get(emails_tab).content.decode()
    # A second copy (another recipient's route) and the next message of that conversation
    # go to the same private thread.
    assert routed.post(dkim_sign(raw, domain="acme.test")).status_code == 200
    following = reply_to(
        theirs,
        sender=f"Col League <{colleague.email}>",
        to=routed.candidate_address,
        body="One more thing.",
        references=f"{routed.first.message_id} {theirs.message_id}",
    )
    assert routed.post(dkim_sign(following, domain="acme.test")).status_code == 200
    assert EmailThread.objects.filter(owner=colleague).count() == 1
    assert theirs.thread.messages.count() == 2


def test_the_parsed_variant_of_the_webhook_stores_the_same_reply(routed):
    """Mailgun's `forward()` to a URL not ending in `mime` posts parsed fields instead."""
    reply_id = "<parsed-1@mail.example.org>"
    headers = [
        ["From", f"Ada Visible <{routed.candidate_address}>"],
        ["To", routed.recruiter.email],
        ["Subject", "Re: Platform role"],
        ["Message-Id", reply_id],
        ["In-Reply-To", routed.first.message_id],
        ["References", routed.first.message_id],
        ["Date", "Mon, 23 Nov 2026 10:00:00 +0000"],
    ]
    raw = b"Subject: unused\r\n\r\nunused"  # only for the signature helper's envelope
    response = routed.post(
        raw,
        url=PARSED_URL,
        **{
            "body-mime": None,
            "message-headers": json.dumps(headers),
            "body-plain": "Parsed reply text.",
            "stripped-text": "Parsed reply text.",
        },
    )

    assert response.status_code == 200, response.content
    reply = routed.stored().get()
    assert reply.message_id == reply_id
    assert reply.body_text.strip() == "Parsed reply text."


def test_mail_without_a_threadline_reference_is_dropped_and_counted(routed):
    unrelated = reply_to(
        routed.first,
        sender=routed.candidate_address,
        to=routed.recruiter.email,
        references="<CAF=random@mail.gmail.com>",
        in_reply_to="<CAF=random@mail.gmail.com>",
    )

    response = routed.post(unrelated)

    assert response.status_code == 200
    assert response.json()["status"] == "dropped"
    assert not routed.stored().exists()
    assert _tally(routed.organisation, "dropped") == 1


def test_a_forged_reference_is_dropped(routed):
    forged = new_message_id(routed.thread.pk)
    forged = forged[:-40] + "f" * 24 + forged[-16:]
    raw = routed.candidate_reply(references=forged, in_reply_to=forged)

    assert routed.post(raw).json()["status"] == "dropped"
    assert not routed.stored().exists()


def test_another_organisations_thread_is_not_reachable_through_our_address(routed, other_team):
    """Routing rules match any Threadline Message-ID: a copy of another customer's thread
    sent to our inbound address must not land in their thread."""
    candidate = CandidateFactory(organisation=other_team.organisation, email="x@other.test")
    _, theirs = start_thread(
        other_team.organisation, other_team.team_member, candidate, "x@other.test"
    )
    raw = reply_to(theirs, sender="x@other.test", to=other_team.team_member.email)

    assert routed.post(raw).json()["status"] == "dropped"
    assert EmailMessage.objects.filter(thread=theirs.thread).count() == 1


def test_an_unknown_recipient_is_dropped(routed):
    response = routed.post(routed.candidate_reply(), recipient="nobody@elsewhere.test")

    assert response.json() == {"status": "dropped", "reason": "not addressed to an inbound address"}
    assert not routed.stored().exists()


def test_a_bad_signature_is_refused_and_nothing_is_stored(routed):
    response = routed.post(routed.candidate_reply(), signature="0" * 64)

    assert response.status_code == 403
    assert "signature" in response.json()["reason"]
    assert not routed.stored().exists()
    assert not WebhookToken.objects.exists()


def test_missing_signature_fields_are_refused(routed):
    response = routed.post(routed.candidate_reply(), signature=None)

    assert response.status_code == 403
    assert not routed.stored().exists()


def test_a_stale_timestamp_is_refused(routed):
    response = routed.post(routed.candidate_reply(), timestamp=int(time.time()) - 6 * 60)

    assert response.status_code == 403
    assert "timestamp" in response.json()["reason"]
    assert not routed.stored().exists()


def test_a_replayed_post_is_refused(routed):
    raw = routed.candidate_reply()
    first = routed.post(raw, token="a" * 50)

    replay = routed.post(raw, token="a" * 50)

    assert first.status_code == 200
    assert replay.status_code == 406
    assert "replayed" in replay.json()["reason"]
    assert routed.stored().count() == 1


def test_the_same_message_forwarded_twice_is_stored_once(routed):
    """Two users of the organisation received it, so the routing rule sent two copies."""
    raw = routed.candidate_reply()

    assert routed.post(raw).json()["status"] == "stored"
    second = routed.post(raw)

    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert routed.stored().count() == 1
    assert _tally(routed.organisation, "duplicate") == 1


def test_a_message_over_25_mb_is_refused_with_406_and_nothing_is_kept(routed, settings):
    limit = settings.INBOUND_MAX_MESSAGE_BYTES
    raw = routed.candidate_reply(body="x")
    raw = raw + b"\r\n" + b"y" * (limit - len(raw) - 1)
    assert len(raw) == limit + 1

    response = routed.post(raw)

    assert response.status_code == 406
    assert response.json()["reason"].startswith("too large")
    assert not routed.stored().exists()


def test_a_post_whose_length_is_far_over_the_limit_is_refused_before_it_is_read(routed, client):
    response = client.generic(
        "POST",
        "/anymail/mailgun/inbound_mime/",
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(100 * 1024 * 1024),
    )

    assert response.status_code == 406
    assert b"too large" in response.content


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"this is not a message at all",
        b"\x00\x01\x02 binary junk \xff\xfe",
    ],
    ids=["empty", "no-headers", "binary"],
)
def test_malformed_mime_is_refused_with_a_reason_not_a_crash(routed, raw):
    response = routed.post(raw)

    assert response.status_code == 400
    assert response.json()["reason"].startswith("malformed message")
    assert not routed.stored().exists()


def test_a_post_without_the_message_is_a_4xx(routed):
    response = routed.post(b"Subject: x\r\n\r\nbody", **{"body-mime": None})

    assert response.status_code == 400
    assert "missing field" in response.json()["reason"]


def test_parsed_fields_that_are_not_json_are_a_4xx(routed):
    response = routed.post(
        b"Subject: x\r\n\r\nbody",
        url=PARSED_URL,
        **{"body-mime": None, "message-headers": "{not json"},
    )

    assert response.status_code == 400
    assert response.json()["reason"].startswith("unreadable post")
    assert not routed.stored().exists()


def test_without_a_signing_key_the_webhook_is_switched_off(routed, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": ""}

    response = routed.post(routed.candidate_reply())

    assert response.status_code == 404
    assert not routed.stored().exists()


def test_other_pages_keep_their_small_request_limit(client, settings):
    response = client.generic(
        "POST",
        "/accounts/login/",
        b"",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(settings.FORM_POST_MAX_BYTES + 1),
    )

    assert response.status_code == 413


def test_expired_webhook_tokens_are_forgotten(routed):
    from datetime import timedelta

    from django.utils import timezone

    from inbound.services import webhook_tokens_forget_expired

    WebhookToken.objects.create(token="old", received_at=timezone.now() - timedelta(hours=1))
    WebhookToken.objects.create(token="new")

    assert webhook_tokens_forget_expired() == 1
    assert list(WebhookToken.objects.values_list("token", flat=True)) == ["new"]


def test_a_replayed_post_of_dropped_mail_is_refused_not_counted_again(routed):
    unrelated = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Hi\r\n\r\nLunch?\r\n"

    first = routed.post(unrelated, token="b" * 50)
    replay = routed.post(unrelated, token="b" * 50)

    assert first.json()["status"] == "dropped"
    assert replay.status_code == 406
    assert _tally(routed.organisation, "dropped") == 1


def test_two_posts_racing_with_one_token_store_the_message_once(routed):
    """Both passed the view's early check; the token is used up with the message."""
    from inbound.services import message_receive

    raw = routed.candidate_reply()
    address = routed.organisation.inbound_address

    first = message_receive(raw=raw, recipient=address, replay_token="c" * 50)
    second = message_receive(raw=raw, recipient=address, replay_token="c" * 50)

    assert (first.outcome, first.http_status) == ("stored", 200)
    assert (second.outcome, second.reason, second.http_status) == ("refused", "replayed post", 406)
    assert routed.stored().count() == 1
