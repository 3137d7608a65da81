"""Limited sync in the sandbox: a customer's routing rule copies mail that cites one of
Threadline's Message-IDs to the organisation's inbound address, and the sandbox plays
Mailgun, posting the copy, signed, to the webhook."""

import base64
import email
import email.policy
import hashlib
import hmac
import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from sandbox import mailgun, mime, routing, services
from sandbox.google import scopes
from sandbox.models import Message, RequestLog, RoutingForward, RoutingRule
from tests.sandbox.conftest import raw_message

MAILGUN_FIELDS = {
    "recipient",
    "sender",
    "from",
    "subject",
    "body-mime",
    "timestamp",
    "token",
    "signature",
}
THREADLINE_ID = f"tl.{'a' * 32}.n0nce123.{'b' * 24}@{settings.THREADLINE_MESSAGE_ID_DOMAIN}"
INBOUND = f"acme-key@{settings.THREADLINE_INBOUND_DOMAIN}"


class Capture:
    """A stand-in webhook on loopback: records each post and answers `status`."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                capture.posts.append(
                    {
                        "path": self.path,
                        "content_type": self.headers["Content-Type"],
                        "fields": multipart_fields(self.headers["Content-Type"], body),
                    }
                )
                self.send_response(capture.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/anymail/mailgun/inbound_mime/"


def multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    assert message.is_multipart()
    return {
        str(part.get_param("name", header="content-disposition")): part.get_content()
        for part in message.iter_parts()
    }


@pytest.fixture
def webhook(settings):
    capture = Capture()
    thread = threading.Thread(target=capture.server.serve_forever, daemon=True)
    thread.start()
    settings.SANDBOX_MAILGUN_WEBHOOK_URL = capture.url
    yield capture
    capture.server.shutdown()
    capture.server.server_close()


@pytest.fixture
def acme(make_mailbox):
    """Two recruiters of the customer acme.test, whose mail admin has set up the rule."""
    routing.routing_rule_set(domain="acme.test", also_deliver_to=INBOUND)
    return (
        make_mailbox("rita@acme.test", display_name="Rita Recruiter"),
        make_mailbox("sam@acme.test", display_name="Sam Sourcer"),
    )


def candidate_reply(*, to: str, message_id: str, cites: str = THREADLINE_ID) -> bytes:
    return raw_message(
        sender="Carl Candidate <carl@people.test>",
        to=to,
        subject="Re: Your application",
        body="Tuesday works.",
        message_id=message_id,
        in_reply_to=cites,
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


# --- The form Mailgun posts ----------------------------------------------------------------


def test_signed_fields_are_mailguns_raw_mime_fields_and_the_signature_verifies():
    raw = candidate_reply(to="rita@acme.test", message_id="r1@people.test")
    fields = mailgun.signed_fields(
        raw=raw, recipient=INBOUND, sender="carl@people.test", signing_key="key-123"
    )
    assert set(fields) == MAILGUN_FIELDS
    assert fields["recipient"] == INBOUND
    assert fields["sender"] == "carl@people.test"
    assert fields["from"] == "Carl Candidate <carl@people.test>"
    assert fields["subject"] == "Re: Your application"
    # As received, under the relay's own Authentication-Results (unsigned mail: none).
    assert fields["body-mime"].encode() == (
        f"Authentication-Results: {settings.INBOUND_AUTHSERV_ID}; dkim=none\r\n".encode() + raw
    )
    assert fields["timestamp"].isdigit()
    assert len(fields["token"]) == 50
    expected = hmac.new(
        b"key-123", (fields["timestamp"] + fields["token"]).encode(), hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["signature"], expected)

    again = mailgun.signed_fields(raw=raw, recipient=INBOUND, sender="c@p.test", signing_key="k")
    assert again["token"] != fields["token"]
    fixed = mailgun.signed_fields(
        raw=raw, recipient=INBOUND, sender="c", signing_key="k", timestamp=1700000000, token="t"
    )
    assert (fixed["timestamp"], fixed["token"]) == ("1700000000", "t")


def test_anymails_mailgun_inbound_view_accepts_the_sandboxs_post(settings):
    """Threadline's webhook is built on Anymail's view: it must verify and parse our post.
    (Validated and parsed directly, so no receiver of Anymail's signal runs here.)"""
    raw = candidate_reply(to="rita@acme.test", message_id="r1@people.test")
    fields = mailgun.signed_fields(
        raw=raw,
        recipient=INBOUND,
        sender="carl@people.test",
        signing_key=settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"],
    )
    view = MailgunInboundWebhookView()
    request = RequestFactory().post("/anymail/mailgun/inbound_mime/", fields)
    view.run_validators(request)
    [event] = view.parse_events(request)
    assert event.message.envelope_recipient == INBOUND
    assert event.message.envelope_sender == "carl@people.test"
    assert event.message["In-Reply-To"] == f"<{THREADLINE_ID}>"
    assert event.event_id == fields["token"]

    forged = RequestFactory().post(
        "/anymail/mailgun/inbound_mime/", {**fields, "signature": "0" * 64}
    )
    with pytest.raises(AnymailWebhookValidationFailure):
        view.run_validators(forged)


def test_the_relay_verifies_dkim_and_drops_authentication_results_claiming_to_be_its_own(
    settings,
):
    raw = candidate_reply(to="rita@acme.test", message_id="r1@people.test")
    signed = mime.dkim_sign(raw, domain="people.test")
    tampered = signed.replace(b"Carl", b"Karl", 1)
    forged = f"Authentication-Results: {settings.INBOUND_AUTHSERV_ID}; dkim=pass\r\n".encode()

    def stamp(message: bytes) -> str:
        return mailgun.relay_stamp(message).decode().split("\r\n", 1)[0]

    assert stamp(signed).endswith("; dkim=pass header.d=people.test")
    assert stamp(tampered).endswith("; dkim=fail header.d=people.test")
    stamped = mailgun.relay_stamp(forged + raw).decode()
    assert stamped.count("Authentication-Results:") == 1
    assert stamped.startswith(f"Authentication-Results: {settings.INBOUND_AUTHSERV_ID}; dkim=none")


def test_post_is_multipart_form_data(webhook):
    fields = mailgun.signed_fields(
        raw=b"Subject: x\r\n\r\nbody\r\n", recipient=INBOUND, sender="a@b.test", signing_key="k"
    )
    assert mailgun.post(url=webhook.url, fields=fields, timeout=5) == 200
    [posted] = webhook.posts
    assert posted["content_type"].startswith("multipart/form-data; boundary=")
    assert posted["fields"] == fields


# --- The routing rule ----------------------------------------------------------------------


def test_candidate_reply_citing_threadline_is_posted_once_to_mailgun(acme, webhook):
    rita, _ = acme
    raw = candidate_reply(to=rita.address, message_id="r1@people.test")
    services.message_deliver(mailbox=rita, raw=raw)

    [posted] = webhook.posts
    fields = posted["fields"]
    assert posted["path"] == "/anymail/mailgun/inbound_mime/"
    assert set(fields) == MAILGUN_FIELDS
    assert (fields["recipient"], fields["sender"]) == (INBOUND, "carl@people.test")
    # As received, under the relay's own Authentication-Results (unsigned mail: none).
    assert fields["body-mime"].encode() == (
        f"Authentication-Results: {settings.INBOUND_AUTHSERV_ID}; dkim=none\r\n".encode() + raw
    )
    key = settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"].encode()
    signed = (fields["timestamp"] + fields["token"]).encode()
    assert fields["signature"] == hmac.new(key, signed, hashlib.sha256).hexdigest()

    forward = RoutingForward.objects.get()
    assert (forward.message_id, forward.mailbox, forward.status) == ("r1@people.test", rita, 200)
    log = RequestLog.objects.get(operation="mailgun.routes.forward")
    assert (log.method, log.path, log.status, log.mailbox) == ("POST", webhook.url, 200, None)
    # The same message delivered again (another recipient, a retry) is not copied again.
    services.message_deliver(mailbox=acme[1], raw=raw)
    assert len(webhook.posts) == 1


def test_mail_without_a_threadline_reference_is_not_posted(acme, webhook):
    rita, _ = acme
    services.message_deliver(
        mailbox=rita, raw=candidate_reply(to=rita.address, message_id="r2@people.test", cites="")
    )
    services.message_deliver(
        mailbox=rita,
        raw=candidate_reply(to=rita.address, message_id="r3@people.test", cites="x@mail.gmail.com"),
    )
    assert Message.objects.filter(mailbox=rita).count() == 2
    assert webhook.posts == []
    assert not RoutingForward.objects.exists()


def test_mail_in_a_domain_without_a_rule_is_not_posted(make_mailbox, acme, webhook):
    other = make_mailbox("olga@other.test")
    services.message_deliver(
        mailbox=other, raw=candidate_reply(to=other.address, message_id="r4@people.test")
    )
    assert Message.objects.filter(mailbox=other).exists()
    assert webhook.posts == []


def test_disabled_rule_does_nothing(acme, webhook):
    rita, _ = acme
    rule = RoutingRule.objects.get()
    routing.routing_rule_enable(rule=rule, enabled=False)
    services.message_deliver(
        mailbox=rita, raw=candidate_reply(to=rita.address, message_id="r5@people.test")
    )
    assert webhook.posts == []
    routing.routing_rule_enable(rule=rule, enabled=True)
    services.message_deliver(
        mailbox=rita, raw=candidate_reply(to=rita.address, message_id="r6@people.test")
    )
    assert [p["fields"]["body-mime"].count("r6@people.test") for p in webhook.posts] == [1]


def test_rule_for_an_address_outside_mailgun_posts_nothing(make_mailbox, webhook):
    rita = make_mailbox("rita@acme.test")
    rule = routing.routing_rule_set(domain="acme.test", also_deliver_to="archive@elsewhere.test")
    assert not rule.reaches_mailgun
    services.message_deliver(
        mailbox=rita, raw=candidate_reply(to=rita.address, message_id="r7@people.test")
    )
    assert webhook.posts == []


def test_users_own_reply_sent_with_the_reference_is_forwarded(acme, webhook):
    rita, _ = acme
    raw = raw_message(
        sender=rita.address,
        to="carl@people.test",
        bcc="boss@acme.test",
        subject="Re: Your application",
        message_id="own@acme.test",
        in_reply_to=THREADLINE_ID,
    )
    sent = services.message_send(mailbox=rita, raw=raw)
    assert sent.labels == ["SENT"]

    [posted] = webhook.posts
    assert posted["fields"]["sender"] == rita.address
    assert posted["fields"]["from"] == rita.address
    assert "Bcc:" not in posted["fields"]["body-mime"]
    assert RoutingForward.objects.get().mailbox == rita


def test_mail_sent_through_the_gmail_api_with_send_scope_only_is_forwarded(
    acme, webhook, gmail_for, token_for
):
    """Limited sync: Threadline sends with gmail.send alone; the copy reaches the webhook
    after the API call's transaction has committed."""
    rita, _ = acme
    gmail = gmail_for(token_for(rita, scopes.SEND))
    raw = raw_message(
        sender=rita.address,
        to="carl@people.test",
        subject="Your application",
        message_id=THREADLINE_ID.replace("n0nce123", "n0nce456"),
        in_reply_to=THREADLINE_ID,
    )
    sent = gmail.users().messages().send(userId="me", body={"raw": _b64(raw)}).execute()
    assert sent["labelIds"] == ["SENT"]
    [posted] = webhook.posts
    assert posted["fields"]["recipient"] == INBOUND
    assert "n0nce456" in posted["fields"]["body-mime"]
    assert RoutingForward.objects.get().status == 200


def test_send_without_saving_a_copy_is_still_forwarded(acme, webhook):
    rita, _ = acme
    raw = raw_message(
        sender=rita.address, to="carl@people.test", subject="Re: x", in_reply_to=THREADLINE_ID
    )
    assert services.message_send(mailbox=rita, raw=raw, save_copy=False) is None
    assert len(webhook.posts) == 1


def test_message_to_two_users_of_the_domain_is_forwarded_once(acme, make_mailbox, webhook):
    rita, sam = acme
    carl = make_mailbox("carl@people.test")
    raw = raw_message(
        sender=carl.address,
        to=f"{rita.address}, {sam.address}",
        subject="Re: Your application",
        message_id="both@people.test",
        in_reply_to=THREADLINE_ID,
    )
    services.message_send(mailbox=carl, raw=raw)

    assert Message.objects.filter(rfc822_msgid="both@people.test").count() == 3
    assert len(webhook.posts) == 1
    assert RoutingForward.objects.get().mailbox == rita


def test_drafts_are_not_forwarded(acme, webhook):
    rita, _ = acme
    raw = raw_message(
        sender=rita.address, to="carl@people.test", subject="Re: x", in_reply_to=THREADLINE_ID
    )
    services.message_insert(mailbox=rita, raw=raw, labels=["DRAFT"])
    assert webhook.posts == []


def test_refused_connection_does_not_break_delivery(acme, settings):
    rita, _ = acme
    with socket.socket() as unused:  # a loopback port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings.SANDBOX_MAILGUN_WEBHOOK_URL = f"http://127.0.0.1:{port}/anymail/mailgun/inbound_mime/"

    delivered = services.message_deliver(
        mailbox=rita, raw=candidate_reply(to=rita.address, message_id="r8@people.test")
    )
    assert Message.objects.filter(pk=delivered.pk).exists()
    forward = RoutingForward.objects.get()
    assert forward.status == 0
    assert "ConnectionError" in forward.error
    assert RequestLog.objects.get(operation="mailgun.routes.forward").status == 0


def test_webhook_error_status_is_recorded(acme, webhook):
    rita, _ = acme
    webhook.status = 403
    services.message_deliver(
        mailbox=rita, raw=candidate_reply(to=rita.address, message_id="r9@people.test")
    )
    assert len(webhook.posts) == 1
    assert RoutingForward.objects.get().status == 403


def test_rule_set_updates_and_validates(transactional_db):
    rule = routing.routing_rule_set(domain=" Acme.TEST ", also_deliver_to=INBOUND.upper())
    assert (rule.domain, rule.also_deliver_to) == ("acme.test", INBOUND)
    assert rule.match_domain == settings.THREADLINE_MESSAGE_ID_DOMAIN
    routing.routing_rule_enable(rule=rule, enabled=False)
    again = routing.routing_rule_set(
        domain="acme.test", also_deliver_to=INBOUND, match_domain="@other.test"
    )
    assert again.pk == rule.pk
    assert (again.enabled, again.match_domain) == (True, "other.test")
    with pytest.raises(services.SandboxError, match="Not a mail domain"):
        routing.routing_rule_set(domain="rita@acme.test", also_deliver_to=INBOUND)
    with pytest.raises(services.SandboxError, match="Not an email address"):
        routing.routing_rule_set(domain="acme.test", also_deliver_to="nobody")
    routing.routing_rule_delete(rule=again)
    assert not RoutingRule.objects.exists()


# --- The web page and the command --------------------------------------------------------


def test_routing_form_is_prefilled_from_the_link_and_saves_the_rule(transactional_db):
    client = Client()
    url = reverse("sandbox:routing")
    assert url == "/sandbox/routing/"
    page = client.get(url, {"domain": "acme.test", "deliver_to": INBOUND, "match_domain": "x.test"})
    assert page.status_code == 200
    form = page.context["form"]
    assert not form.is_bound
    assert form.initial == {"domain": "acme.test", "deliver_to": INBOUND, "match_domain": "x.test"}
    assert f'value="{INBOUND}"' in page.content.decode()
    bare = client.get(url)
    assert bare.context["form"].initial["match_domain"] == settings.THREADLINE_MESSAGE_ID_DOMAIN

    saved = client.post(
        url, {"domain": "acme.test", "deliver_to": INBOUND, "match_domain": "x.test"}, follow=True
    )
    assert saved.redirect_chain == [(reverse("sandbox:index"), 302)]
    rule = RoutingRule.objects.get()
    assert (rule.domain, rule.also_deliver_to, rule.match_domain) == (
        "acme.test",
        INBOUND,
        "x.test",
    )
    body = saved.content.decode()
    assert "Routing rule on: acme.test" in body and "Customer mail routing" in body

    invalid = client.post(url, {"domain": "acme.test", "deliver_to": "nobody", "match_domain": ""})
    assert invalid.status_code == 400
    assert RoutingRule.objects.count() == 1


def test_rules_and_forwards_are_listed_and_toggled_on_the_index(
    acme, webhook, django_assert_num_queries
):
    rita, _ = acme
    rule = RoutingRule.objects.get()
    routing.routing_rule_set(domain="beta.test", also_deliver_to=INBOUND)
    routing.routing_rule_set(domain="gamma.test", also_deliver_to="journal@gamma.test")
    for number in range(3):
        services.message_deliver(
            mailbox=rita, raw=candidate_reply(to=rita.address, message_id=f"i{number}@p.test")
        )
    client = Client()
    # Mailboxes, rules and recent forwards, each one query however many rows.
    with django_assert_num_queries(3):
        index = client.get(reverse("sandbox:index")).content.decode()
    assert "acme.test" in index and INBOUND in index and "Turn off" in index
    assert "i2@p.test" in index and "Re: Your application" in index
    assert "not " + settings.THREADLINE_INBOUND_DOMAIN in index  # gamma's copies go nowhere

    client.post(reverse("sandbox:routing_toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.enabled is False
    assert "Turn on" in client.get(reverse("sandbox:index")).content.decode()
    assert client.get(reverse("sandbox:routing_toggle", args=[rule.pk])).status_code == 405
    assert client.post(reverse("sandbox:routing_toggle", args=[999])).status_code == 404

    client.post(reverse("sandbox:routing_delete", args=[rule.pk]))
    assert not RoutingRule.objects.filter(pk=rule.pk).exists()
    assert not RoutingForward.objects.exists()  # its record goes with it


def test_route_command_sets_and_turns_off_a_rule(transactional_db):
    def run(*args: str) -> dict:
        out = io.StringIO()
        call_command("sandbox", "route", *args, stdout=out)
        return json.loads(out.getvalue())

    created = run("--domain", "Acme.test", "--deliver-to", INBOUND)
    assert created == {
        "domain": "acme.test",
        "matchDomain": settings.THREADLINE_MESSAGE_ID_DOMAIN,
        "deliverTo": INBOUND,
        "enabled": True,
        "reachesMailgun": True,
    }
    off = run("--domain", "acme.test", "--deliver-to", INBOUND, "--off")
    assert off["enabled"] is False
    assert RoutingRule.objects.get().enabled is False
    with pytest.raises(CommandError, match="No such routing rule"):
        run("--domain", "other.test", "--deliver-to", INBOUND, "--off")
    with pytest.raises(CommandError, match="Not an email address"):
        run("--domain", "acme.test", "--deliver-to", "nobody")
