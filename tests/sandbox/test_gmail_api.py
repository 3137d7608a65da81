"""Gmail API v1 through googleapiclient against the live sandbox: send, threading and
delivery, list and q, the four formats, scopes, labels, modify and history."""

import base64
import email
import email.policy
import io
import json
from email.message import EmailMessage

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from sandbox import services
from sandbox.google import scopes
from sandbox.models import Message, RequestLog
from tests.sandbox.conftest import raw_message


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _error(excinfo) -> dict:
    return json.loads(excinfo.value.content)["error"]


@pytest.fixture
def recruiter_gmail(recruiter, token_for, gmail_for):
    return gmail_for(token_for(recruiter, scopes.MODIFY)).users()


@pytest.fixture
def candidate_gmail(candidate, token_for, gmail_for):
    return gmail_for(token_for(candidate, scopes.MODIFY)).users()


def test_send_keeps_message_id_delivers_and_threads_the_reply(
    recruiter, candidate, recruiter_gmail, candidate_gmail, make_mailbox
):
    boss = make_mailbox("boss@agency.test")
    raw = raw_message(
        sender=recruiter.address,
        to=candidate.address,
        bcc=boss.address,
        subject="Interview on Tuesday",
        message_id="first@agency.test",
    )
    sent = recruiter_gmail.messages().send(userId="me", body={"raw": _b64(raw)}).execute()
    assert sent["labelIds"] == ["SENT"]
    assert sent["threadId"] == sent["id"]

    inbox = candidate_gmail.messages().list(userId="me", labelIds=["INBOX"]).execute()
    assert len(inbox["messages"]) == 1
    delivered = (
        candidate_gmail.messages()
        .get(userId="me", id=inbox["messages"][0]["id"], format="raw")
        .execute()
    )
    assert set(delivered["labelIds"]) == {"INBOX", "UNREAD"}
    delivered_raw = base64.urlsafe_b64decode(delivered["raw"])
    assert b"Message-ID: <first@agency.test>" in delivered_raw
    assert b"Bcc:" not in delivered_raw
    assert Message.objects.filter(mailbox=boss).count() == 1  # the Bcc recipient got a copy
    own = recruiter_gmail.messages().get(userId="me", id=sent["id"], format="raw").execute()
    assert b"Bcc: boss@agency.test" in base64.urlsafe_b64decode(own["raw"])

    reply = raw_message(
        sender=candidate.address,
        to=recruiter.address,
        subject="Re: Interview on Tuesday",
        in_reply_to="first@agency.test",
    )
    answer = (
        candidate_gmail.messages()
        .send(userId="me", body={"raw": _b64(reply), "threadId": delivered["threadId"]})
        .execute()
    )
    assert answer["threadId"] == delivered["threadId"]
    recruiter_inbox = recruiter_gmail.messages().list(userId="me", q="in:inbox").execute()
    reply_in_recruiter = (
        recruiter_gmail.messages()
        .get(userId="me", id=recruiter_inbox["messages"][0]["id"], format="minimal")
        .execute()
    )
    assert reply_in_recruiter["threadId"] == sent["threadId"]
    sent_reply = Message.objects.get(mailbox=candidate, provider_id=answer["id"])
    assert sent_reply.rfc822_msgid  # the sandbox added a Message-ID


def test_reply_with_a_different_subject_starts_a_new_thread(recruiter, candidate, recruiter_gmail):
    first = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(
            sender=candidate.address,
            to=recruiter.address,
            subject="Hello",
            message_id="a@people.test",
        ),
    )
    other = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(
            sender=candidate.address,
            to=recruiter.address,
            subject="Something else",
            in_reply_to="a@people.test",
        ),
    )
    same = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(
            sender=candidate.address,
            to=recruiter.address,
            subject="Fwd: RE: hello",
            in_reply_to="a@people.test",
        ),
    )
    assert other.thread_id != first.thread_id
    assert same.thread_id == first.thread_id
    profile = recruiter_gmail.getProfile(userId="me").execute()
    assert profile["messagesTotal"] == 3 and profile["threadsTotal"] == 2


def test_send_via_media_upload_with_thread(recruiter, candidate, recruiter_gmail):
    raw = raw_message(sender=recruiter.address, to=candidate.address, subject="Upload path")
    media = MediaIoBaseUpload(io.BytesIO(raw), mimetype="message/rfc822")
    sent = recruiter_gmail.messages().send(userId="me", media_body=media).execute()
    assert sent["labelIds"] == ["SENT"]
    multipart = MediaIoBaseUpload(io.BytesIO(raw), mimetype="message/rfc822")
    again = (
        recruiter_gmail.messages()
        .send(userId="me", body={"threadId": sent["threadId"]}, media_body=multipart)
        .execute()
    )
    assert again["id"] != sent["id"]
    assert Message.objects.filter(mailbox=candidate).count() == 2
    assert RequestLog.objects.filter(path__contains="uploadType=multipart").exists()


def test_list_filters_with_q_and_pages_newest_first(recruiter, recruiter_gmail):
    for number in range(7):
        services.message_deliver(
            mailbox=recruiter,
            raw=raw_message(
                sender=f"person{number % 2}@people.test",
                to=recruiter.address,
                subject=f"Note {number}",
                message_id=f"note{number}@people.test",
            ),
        )
    messages = recruiter_gmail.messages()
    page = messages.list(userId="me", maxResults=3).execute()
    assert page["resultSizeEstimate"] == 7 and len(page["messages"]) == 3
    seen = [m["id"] for m in page["messages"]]
    while "nextPageToken" in page:
        page = messages.list(userId="me", maxResults=3, pageToken=page["nextPageToken"]).execute()
        seen += [m["id"] for m in page["messages"]]
    assert len(seen) == len(set(seen)) == 7
    newest = Message.objects.filter(mailbox=recruiter).order_by("-internal_date", "-id").first()
    assert seen[0] == newest.provider_id

    by_sender = messages.list(userId="me", q="from:person1@people.test").execute()
    assert by_sender["resultSizeEstimate"] == 3
    by_id = messages.list(userId="me", q="rfc822msgid:<note4@people.test>").execute()
    assert len(by_id["messages"]) == 1
    either = messages.list(userId="me", q='subject:"Note 1" OR subject:"Note 2"').execute()
    assert either["resultSizeEstimate"] == 2
    combined = messages.list(userId="me", q=f"to:{recruiter.address} -from:person0").execute()
    assert combined["resultSizeEstimate"] == 3
    assert messages.list(userId="me", q="from:nobody").execute() == {"resultSizeEstimate": 0}


def _message_with_attachment(sender: str, to: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "CV attached"
    message["Message-ID"] = "<cv@people.test>"
    message.set_content("Please find my CV attached.")
    message.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="cv.pdf"
    )
    return message.as_bytes(policy=email.policy.SMTP)


def test_get_in_all_four_formats_and_attachment(recruiter, candidate, recruiter_gmail):
    stored = services.message_deliver(
        mailbox=recruiter, raw=_message_with_attachment(candidate.address, recruiter.address)
    )
    get = recruiter_gmail.messages().get
    minimal = get(userId="me", id=stored.provider_id, format="minimal").execute()
    assert set(minimal) == {
        "id",
        "threadId",
        "labelIds",
        "snippet",
        "sizeEstimate",
        "historyId",
        "internalDate",
    }
    assert minimal["snippet"] == "Please find my CV attached."

    metadata = get(
        userId="me",
        id=stored.provider_id,
        format="metadata",
        metadataHeaders=["Subject", "message-id"],
    ).execute()
    assert metadata["payload"]["headers"] == [
        {"name": "Subject", "value": "CV attached"},
        {"name": "Message-ID", "value": "<cv@people.test>"},
    ]
    assert metadata["payload"]["mimeType"] == "multipart/mixed"

    full = get(userId="me", id=stored.provider_id).execute()
    text, attachment = full["payload"]["parts"]
    assert text["partId"] == "0" and text["mimeType"] == "text/plain"
    assert base64.urlsafe_b64decode(text["body"]["data"]).startswith(b"Please find my CV")
    assert attachment["filename"] == "cv.pdf" and "data" not in attachment["body"]
    fetched = (
        recruiter_gmail.messages()
        .attachments()
        .get(userId="me", messageId=stored.provider_id, id=attachment["body"]["attachmentId"])
        .execute()
    )
    assert base64.urlsafe_b64decode(fetched["data"]) == b"%PDF-1.4 fake"
    assert fetched["size"] == attachment["body"]["size"]

    raw = get(userId="me", id=stored.provider_id, format="raw").execute()
    assert base64.urlsafe_b64decode(raw["raw"]) == bytes(stored.raw)
    assert "payload" not in raw

    with pytest.raises(HttpError) as missing:
        get(userId="me", id="0000000000000000").execute()
    assert missing.value.status_code == 404
    assert _error(missing)["errors"][0]["reason"] == "notFound"


def test_metadata_scope_refuses_full_raw_and_q(recruiter, token_for, gmail_for):
    stored = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(sender="a@people.test", to=recruiter.address, subject="Hi"),
    )
    users = gmail_for(token_for(recruiter, scopes.METADATA)).users()
    assert users.messages().get(userId="me", id=stored.provider_id, format="metadata").execute()
    for fmt in ("full", "raw"):
        with pytest.raises(HttpError) as refused:
            users.messages().get(userId="me", id=stored.provider_id, format=fmt).execute()
        error = _error(refused)
        assert refused.value.status_code == 403
        assert error["message"] == f"Metadata scope doesn't allow format {fmt.upper()}"
        assert error["status"] == "PERMISSION_DENIED"
    with pytest.raises(HttpError) as refused:
        users.messages().list(userId="me", q="from:a@people.test").execute()
    assert _error(refused)["message"] == "Metadata scope does not support 'q' parameter"
    assert users.messages().list(userId="me").execute()["resultSizeEstimate"] == 1


def test_send_only_scope_can_send_but_not_read(recruiter, candidate, token_for, gmail_for):
    users = gmail_for(token_for(recruiter, scopes.SEND)).users()
    raw = raw_message(sender=recruiter.address, to=candidate.address, subject="Only sending")
    assert users.messages().send(userId="me", body={"raw": _b64(raw)}).execute()["id"]
    for call in (
        users.messages().list(userId="me"),
        users.getProfile(userId="me"),
        users.labels().list(userId="me"),
    ):
        with pytest.raises(HttpError) as refused:
            call.execute()
        assert refused.value.status_code == 403
        error = _error(refused)
        assert error["message"] == "Request had insufficient authentication scopes."
        assert error["errors"][0]["reason"] == "insufficientPermissions"


def test_readonly_cannot_modify_and_other_users_are_delegation_denied(
    recruiter, token_for, gmail_for
):
    stored = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(sender="a@people.test", to=recruiter.address, subject="Hi"),
    )
    users = gmail_for(token_for(recruiter, scopes.READONLY)).users()
    with pytest.raises(HttpError) as refused:
        users.messages().modify(
            userId="me", id=stored.provider_id, body={"removeLabelIds": ["UNREAD"]}
        ).execute()
    assert refused.value.status_code == 403
    assert users.getProfile(userId=recruiter.address).execute()["emailAddress"] == (
        recruiter.address
    )
    with pytest.raises(HttpError) as other:
        users.getProfile(userId="someone@else.test").execute()
    assert _error(other)["message"] == "Delegation denied for someone@else.test"


def test_labels_create_duplicate_and_modify(recruiter, recruiter_gmail):
    labels = recruiter_gmail.labels()
    system = {label["id"] for label in labels.list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "UNREAD", "SPAM", "TRASH"} <= system
    created = labels.create(
        userId="me", body={"name": "Candidates", "labelListVisibility": "labelShow"}
    ).execute()
    assert created["id"] == "Label_1" and created["type"] == "user"
    with pytest.raises(HttpError) as duplicate:
        labels.create(userId="me", body={"name": "candidates"}).execute()
    assert duplicate.value.status_code == 409
    assert _error(duplicate)["message"] == "Label name exists or conflicts"

    stored = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(sender="a@people.test", to=recruiter.address, subject="Hi"),
    )
    modified = (
        recruiter_gmail.messages()
        .modify(
            userId="me",
            id=stored.provider_id,
            body={"addLabelIds": ["Label_1"], "removeLabelIds": ["UNREAD"]},
        )
        .execute()
    )
    assert modified["labelIds"] == ["INBOX", "Label_1"]
    with pytest.raises(HttpError) as invalid:
        recruiter_gmail.messages().modify(
            userId="me", id=stored.provider_id, body={"addLabelIds": ["Label_99"]}
        ).execute()
    assert invalid.value.status_code == 400
    assert _error(invalid)["message"] == "Invalid label: Label_99"
    found = recruiter_gmail.messages().list(userId="me", q="label:candidates").execute()
    assert found["messages"][0]["id"] == stored.provider_id


def test_history_pages_filters_and_expires(recruiter, recruiter_gmail):
    start = recruiter_gmail.getProfile(userId="me").execute()["historyId"]
    delivered = [
        services.message_deliver(
            mailbox=recruiter,
            raw=raw_message(sender="a@people.test", to=recruiter.address, subject=f"H{n}"),
        )
        for n in range(5)
    ]
    services.message_modify_labels(message=delivered[0], remove=["UNREAD"])
    history = recruiter_gmail.history()
    records, page = [], history.list(userId="me", startHistoryId=start, maxResults=2).execute()
    records += page["history"]
    while "nextPageToken" in page:
        page = history.list(
            userId="me", startHistoryId=start, maxResults=2, pageToken=page["nextPageToken"]
        ).execute()
        records += page["history"]
    assert len(records) == 6
    assert [int(r["id"]) for r in records] == sorted(int(r["id"]) for r in records)
    assert records[0]["messagesAdded"][0]["message"]["id"] == delivered[0].provider_id
    assert records[-1]["labelsRemoved"][0]["labelIds"] == ["UNREAD"]
    assert page["historyId"] == str(recruiter.__class__.objects.get(pk=recruiter.pk).history_id)

    only_removed = history.list(
        userId="me", startHistoryId=start, historyTypes=["labelRemoved"]
    ).execute()
    assert len(only_removed["history"]) == 1

    services.history_expire(mailbox=recruiter)
    with pytest.raises(HttpError) as expired:
        history.list(userId="me", startHistoryId=start).execute()
    assert expired.value.status_code == 404
    assert _error(expired)["errors"][0]["reason"] == "notFound"
    latest = recruiter_gmail.getProfile(userId="me").execute()["historyId"]
    assert "history" not in history.list(userId="me", startHistoryId=latest).execute()


def test_send_adds_missing_headers_without_touching_the_rest(recruiter, candidate, recruiter_gmail):
    raw = b"To: candidate@people.test\r\nSubject: Bytes\r\n\r\nLine one\r\n\r\nLine two\r\n"
    sent = recruiter_gmail.messages().send(userId="me", body={"raw": _b64(raw)}).execute()
    stored = recruiter_gmail.messages().get(userId="me", id=sent["id"], format="raw").execute()
    stored_raw = base64.urlsafe_b64decode(stored["raw"])
    assert stored_raw.endswith(raw)
    head = stored_raw[: -len(raw)].decode()
    assert "From: Rita Recruiter <recruiter@agency.test>" in head
    assert "Message-ID: <" in head and "Date: " in head


def test_microsoft_mailbox_tokens_are_refused_by_gmail(make_mailbox, token_for, gmail_for):
    outlook = make_mailbox("someone@contoso.test", provider="microsoft")
    # The client tries to refresh on 401 and cannot: the sandbox said "unauthenticated".
    with pytest.raises(RefreshError):
        gmail_for(token_for(outlook)).users().getProfile(userId="me").execute()
    assert RequestLog.objects.get().status == 401


def test_thread_get_lists_the_conversation_oldest_first(recruiter, candidate, recruiter_gmail):
    first = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(
            sender=candidate.address,
            to=recruiter.address,
            subject="Chat",
            message_id="c1@people.test",
        ),
    )
    second = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(
            sender=candidate.address,
            to=recruiter.address,
            subject="Re: Chat",
            in_reply_to="c1@people.test",
        ),
    )
    thread = (
        recruiter_gmail.threads().get(userId="me", id=first.thread_id, format="minimal").execute()
    )
    assert [m["id"] for m in thread["messages"]] == [first.provider_id, second.provider_id]
    assert thread["historyId"] == str(second.history_id)
    with pytest.raises(HttpError) as missing:
        recruiter_gmail.threads().get(userId="me", id="ffffffffffffffff").execute()
    assert missing.value.status_code == 404
    assert RequestLog.objects.filter(operation="gmail.users.threads.get", units=10).exists()
