"""Graph mail over HTTPS with plain `requests`: drafts, sending and delivery, threading,
custom headers, reading with $select and $value, search and filter, categories."""

import pytest

from sandbox import mime, services
from sandbox.models import Message, RequestLog
from tests.sandbox.conftest import raw_message


def _draft(to: str, subject: str = "Backend Engineer role", **extra) -> dict:
    return {
        "subject": subject,
        "body": {"contentType": "Text", "content": "Hi Carl, are you free for a call?"},
        "toRecipients": [{"emailAddress": {"address": to, "name": "Carl Candidate"}}],
        **extra,
    }


def test_draft_is_created_sent_and_delivered_with_its_headers(
    graph_for, recruiter_ms, candidate, ms_mailbox
):
    colleague = ms_mailbox("colin@agency365.test")
    graph = graph_for(recruiter_ms)
    created = graph.post(
        "me/messages",
        _draft(
            candidate.address,
            ccRecipients=[{"emailAddress": {"address": colleague.address}}],
            internetMessageHeaders=[{"name": "X-Threadline-Thread", "value": "th-42"}],
        ),
    )
    assert created.status_code == 201
    draft = created.json()
    assert draft["isDraft"] is True
    assert draft["internetMessageId"].startswith("<") and draft["internetMessageId"].endswith(
        ".prod.outlook.com>"
    )
    assert draft["conversationId"].startswith("AAQkA")
    assert draft["from"]["emailAddress"]["address"] == recruiter_ms.address
    assert "internetMessageHeaders" not in draft  # only when selected

    assert graph.post(f"me/messages/{draft['id']}/send").status_code == 202
    assert graph.get(f"me/messages/{draft['id']}").status_code == 404  # REST ids change

    (sent,) = graph.get("me/mailFolders/sentitems/messages").json()["value"]
    assert sent["isDraft"] is False
    assert sent["internetMessageId"] == draft["internetMessageId"]
    assert sent["conversationId"] == draft["conversationId"]

    # Delivered to a Google mailbox and to a Microsoft one, with the custom header intact.
    received = Message.objects.get(mailbox=candidate)
    assert received.labels == ["INBOX", "UNREAD"]
    assert received.rfc822_msgid == draft["internetMessageId"].strip("<>")
    assert ["X-Threadline-Thread", "th-42"] in received.headers
    copy = Message.objects.get(mailbox=colleague)
    assert copy.labels == ["INBOX", "UNREAD"] and copy.immutable_id

    reader = graph_for(colleague, "Mail.Read")
    (inbox,) = reader.get(
        "me/mailFolders/Inbox/messages",
        params={"$select": "internetMessageHeaders,internetMessageId,conversationId"},
    ).json()["value"]
    assert set(inbox) == {
        "@odata.etag",
        "id",
        "internetMessageHeaders",
        "internetMessageId",
        "conversationId",
    }
    assert {"name": "X-Threadline-Thread", "value": "th-42"} in inbox["internetMessageHeaders"]


def test_replies_join_the_conversation_unless_their_subject_was_edited(
    graph_for, recruiter_ms, candidate
):
    graph = graph_for(recruiter_ms)
    first = graph.post("me/messages", _draft(candidate.address)).json()
    graph.post(f"me/messages/{first['id']}/send")
    (outgoing,) = Message.objects.filter(mailbox=candidate)
    reply_headers = mime.reply_headers(mime.parse(bytes(outgoing.raw)))
    answer = mime.build_message(
        sender=candidate.address,
        to=recruiter_ms.address,
        subject=reply_headers["subject"],
        body="Yes, Tuesday works.",
        in_reply_to=reply_headers["in_reply_to"],
        references=reply_headers["references"],
    )
    services.message_send(mailbox=candidate, raw=answer)
    (incoming,) = graph.get("me/mailFolders/inbox/messages").json()["value"]
    assert incoming["conversationId"] == first["conversationId"]

    reply = graph.post(f"me/messages/{incoming['id']}/createReply", {"comment": "Great"})
    assert reply.status_code == 201
    assert reply.json()["subject"] == "RE: Backend Engineer role"
    assert reply.json()["conversationId"] == first["conversationId"]

    edited = graph.patch(f"me/messages/{reply.json()['id']}", {"subject": "Interview on Tuesday"})
    assert edited.status_code == 200
    assert edited.json()["conversationId"] != first["conversationId"]
    graph.post(f"me/messages/{reply.json()['id']}/send")
    received = Message.objects.filter(mailbox=candidate, subject="Interview on Tuesday").get()
    assert not any(n.lower() in ("in-reply-to", "references") for n, _ in received.headers)


def test_send_mail_in_one_call_with_and_without_a_sent_copy(graph_for, recruiter_ms, candidate):
    graph = graph_for(recruiter_ms, "Mail.Send")
    kept = graph.post("me/sendMail", {"message": _draft(candidate.address, "One")})
    assert kept.status_code == 202 and kept.content == b""
    graph.post(
        "me/sendMail", {"message": _draft(candidate.address, "Two"), "saveToSentItems": False}
    )
    assert list(Message.objects.filter(mailbox=recruiter_ms).values_list("subject", flat=True)) == [
        "One"
    ]
    assert Message.objects.filter(mailbox=candidate).count() == 2


@pytest.mark.parametrize("name", ["Auto-Submitted", "In-Reply-To", "Threadline"])
def test_only_x_headers_may_be_set(graph_for, recruiter_ms, candidate, name):
    refused = graph_for(recruiter_ms).post(
        "me/messages",
        _draft(candidate.address, internetMessageHeaders=[{"name": name, "value": "1"}]),
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "InvalidInternetMessageHeader"
    assert f"'{name}' should start with 'x-' or 'X-'" in error["message"]
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}


def test_a_supplied_internet_message_id_is_kept(graph_for, recruiter_ms, candidate):
    graph = graph_for(recruiter_ms)
    draft = graph.post(
        "me/messages", _draft(candidate.address, internetMessageId="<tl-7.abc@threadline.test>")
    ).json()
    assert draft["internetMessageId"] == "<tl-7.abc@threadline.test>"
    graph.post(f"me/messages/{draft['id']}/send")
    assert Message.objects.get(mailbox=candidate).rfc822_msgid == "tl-7.abc@threadline.test"


def test_get_message_value_select_and_unknown_property(graph_for, recruiter_ms):
    stored = services.message_deliver(
        mailbox=recruiter_ms,
        raw=raw_message(
            sender="c@people.test",
            to=recruiter_ms.address,
            subject="CV",
            message_id="cv-1@people.test",
        ),
    )
    graph = graph_for(recruiter_ms, "Mail.Read")
    full = graph.get(f"me/messages/{stored.provider_id}").json()
    assert full["body"] == {"contentType": "text", "content": "Hello there\r\n"}
    assert full["isRead"] is False and full["internetMessageId"] == "<cv-1@people.test>"
    assert "internetMessageHeaders" not in full

    value = graph.get(f"me/messages/{stored.provider_id}/$value")
    assert value.status_code == 200
    assert value.headers["Content-Type"].startswith("text/plain")
    assert value.content == bytes(stored.raw)

    unknown = graph.get(f"me/messages/{stored.provider_id}", params={"$select": "nope"})
    assert unknown.status_code == 400
    formats = list(RequestLog.objects.values_list("operation", "format", "status"))
    assert formats == [
        ("graph.messages.get", "full", 200),
        ("graph.messages.value", "mime", 200),
        ("graph.messages.get", "", 400),
    ]


def test_search_and_filter_find_a_candidates_messages(graph_for, recruiter_ms):
    for n, sender in enumerate(["ada@people.test", "bob@people.test", "ada@people.test"]):
        services.message_deliver(
            mailbox=recruiter_ms,
            raw=raw_message(sender=sender, to=recruiter_ms.address, subject=f"Note {n}"),
        )
    graph = graph_for(recruiter_ms, "Mail.Read")
    by_filter = graph.get(
        "me/messages", params={"$filter": "from/emailAddress/address eq 'ada@people.test'"}
    ).json()["value"]
    assert [m["subject"] for m in by_filter] == ["Note 2", "Note 0"]
    searched = graph.get(
        "me/messages", params={"$search": '"participants:ada@people.test"', "$top": "1"}
    ).json()
    assert [m["subject"] for m in searched["value"]] == ["Note 2"]
    second = graph.get(searched["@odata.nextLink"]).json()
    assert [m["subject"] for m in second["value"]] == ["Note 0"]
    assert "@odata.nextLink" not in second
    either = graph.get(
        "me/messages", params={"$search": '"from:bob@people.test OR from:ada@people.test"'}
    ).json()["value"]
    assert len(either) == 3
    refused = graph.get(
        "me/messages", params={"$search": '"ada"', "$orderby": "receivedDateTime desc"}
    )
    assert refused.status_code == 400


def test_categories_and_the_master_list(graph_for, recruiter_ms):
    stored = services.message_deliver(
        mailbox=recruiter_ms,
        raw=raw_message(sender="c@people.test", to=recruiter_ms.address, subject="Hi"),
    )
    graph = graph_for(recruiter_ms, "Mail.ReadWrite", "MailboxSettings.ReadWrite")
    created = graph.post(
        "me/outlook/masterCategories", {"displayName": "Threadline", "color": "preset9"}
    )
    assert created.status_code == 201
    assert created.json()["displayName"] == "Threadline" and created.json()["color"] == "preset9"
    duplicate = graph.post("me/outlook/masterCategories", {"displayName": "threadline"})
    assert duplicate.status_code == 409
    listed = graph.get("me/outlook/masterCategories").json()["value"]
    assert [c["displayName"] for c in listed] == ["Threadline"]

    patched = graph.patch(f"me/messages/{stored.provider_id}", {"categories": ["Threadline"]})
    assert patched.status_code == 200 and patched.json()["categories"] == ["Threadline"]
    assert Message.objects.get(pk=stored.pk).categories == ["Threadline"]

    reader = graph_for(recruiter_ms, "Mail.Read")
    assert reader.patch(f"me/messages/{stored.provider_id}", {"categories": []}).status_code == 403
    assert reader.get("me/outlook/masterCategories").status_code == 403


def test_a_draft_created_from_mime_keeps_its_headers(graph_for, recruiter_ms, ms_mailbox):
    import base64

    ms_mailbox("carla@example365.test")
    graph = graph_for(recruiter_ms)
    raw = (
        b"From: rita@agency365.test\r\nTo: carla@example365.test\r\nSubject: Hello\r\n"
        b"Message-ID: <tl.abc@threadline.localhost>\r\nX-Threadline-Ref: abc.def\r\n\r\nHi\r\n"
    )

    created = graph.session.post(
        f"{graph.root}/me/messages",
        data=base64.b64encode(raw),
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    broken = graph.session.post(
        f"{graph.root}/me/messages",
        data=b"not base64 at all!",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )

    assert created.status_code == 201
    assert created.json()["internetMessageId"] == "<tl.abc@threadline.localhost>"
    assert created.json()["isDraft"] is True
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "ErrorMimeContentInvalidBase64String"
