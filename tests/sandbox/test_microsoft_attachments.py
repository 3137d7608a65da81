"""Graph's 4 MB request limit and attachment upload sessions, as Microsoft documents them
(attachment: createUploadSession; "Attach large files to Outlook messages or events")."""

import email
import email.policy
import os

import requests

from sandbox.models import Message, RequestLog, UploadSession

MB = 1024 * 1024


def _draft(graph, to: str) -> dict:
    return graph.post(
        "me/messages",
        {
            "subject": "Offer letter",
            "body": {"contentType": "Text", "content": "Attached."},
            "toRecipients": [{"emailAddress": {"address": to}}],
        },
    ).json()


def _session(graph, draft_id: str, size: int, name: str = "offer.pdf") -> requests.Response:
    return graph.post(
        f"me/messages/{draft_id}/attachments/createUploadSession",
        {"AttachmentItem": {"attachmentType": "file", "name": name, "size": size}},
    )


def _put(url: str, chunk: bytes, start: int, total: int, **headers) -> requests.Response:
    return requests.put(
        url,
        data=chunk,
        headers={"Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{total}", **headers},
        timeout=10,
    )


def test_a_request_over_4_mb_is_refused_with_413(graph_for, recruiter_ms, candidate):
    graph = graph_for(recruiter_ms)
    draft = _draft(graph, candidate.address)
    big = "A" * (4 * MB + 1)

    refused = graph.post(
        f"me/messages/{draft['id']}/attachments",
        {"@odata.type": "#microsoft.graph.fileAttachment", "name": "x.bin", "contentBytes": big},
    )

    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "RequestEntityTooLarge"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    logged = RequestLog.objects.get(status=413)
    assert logged.mailbox == recruiter_ms and logged.request_bytes > 4 * MB


def test_a_small_file_is_one_attachments_post(graph_for, recruiter_ms, candidate):
    graph = graph_for(recruiter_ms)
    draft = _draft(graph, candidate.address)

    added = graph.post(
        f"me/messages/{draft['id']}/attachments",
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": "note.txt",
            "contentType": "text/plain",
            "contentBytes": "aGVsbG8=",
        },
    )

    assert added.status_code == 201
    assert added.json()["size"] == 5 and added.json()["name"] == "note.txt"
    assert Message.objects.get(mailbox=recruiter_ms).has_attachments


def test_an_upload_session_takes_ranges_and_attaches_the_file(graph_for, recruiter_ms, candidate):
    graph = graph_for(recruiter_ms)
    draft = _draft(graph, candidate.address)
    content = os.urandom(9 * MB + 123)

    created = _session(graph, draft["id"], len(content))

    assert created.status_code == 201
    session = created.json()
    assert session["nextExpectedRanges"] == ["0-"]
    assert session["expirationDateTime"].endswith("Z")
    url = session["uploadUrl"]
    assert "authtoken=" in url and "/AttachmentSessions('" in url
    first = _put(url, content[: 4 * MB], 0, len(content))
    assert first.status_code == 200
    assert first.json()["nextExpectedRanges"] == [str(4 * MB)]
    assert _put(url, content[4 * MB : 8 * MB], 4 * MB, len(content)).status_code == 200
    last = _put(url, content[8 * MB :], 8 * MB, len(content))
    assert last.status_code == 201
    assert "/Attachments('" in last.headers["Location"]
    assert not UploadSession.objects.exists()

    assert graph.post(f"me/messages/{draft['id']}/send").status_code == 202
    delivered = Message.objects.get(mailbox=candidate)
    parsed = email.message_from_bytes(bytes(delivered.raw), policy=email.policy.default)
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "offer.pdf"
    assert attachment.get_content() == content
    puts = RequestLog.objects.filter(operation="outlook.attachmentSessions.put")
    assert [p.status for p in puts] == [200, 200, 201]
    assert all(p.mailbox == recruiter_ms for p in puts)


def test_an_upload_url_refuses_a_bearer_token_a_gap_and_a_range_over_4_mb(
    graph_for, recruiter_ms, candidate
):
    graph = graph_for(recruiter_ms)
    draft = _draft(graph, candidate.address)
    content = os.urandom(6 * MB)
    url = _session(graph, draft["id"], len(content)).json()["uploadUrl"]

    with_bearer = _put(url, content[:MB], 0, len(content), Authorization="Bearer x")
    too_big = _put(url, content[: 4 * MB + 1], 0, len(content))
    gap = _put(url, content[MB : 2 * MB], MB, len(content))
    wrong_token = _put(url.replace("authtoken=", "authtoken=x"), content[:MB], 0, len(content))

    assert with_bearer.status_code == 401
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "RequestEntityTooLarge"
    assert gap.status_code == 416
    assert wrong_token.status_code == 404
    assert len(UploadSession.objects.get().received) == 0
    assert requests.delete(url, timeout=10).status_code == 204
    assert not UploadSession.objects.exists()
    assert _put(url, content[:MB], 0, len(content)).status_code == 404


def test_an_upload_session_needs_a_draft_and_mail_readwrite(graph_for, recruiter_ms, candidate):
    send_only = graph_for(recruiter_ms, "Mail.Send")
    graph = graph_for(recruiter_ms)
    draft = _draft(graph, candidate.address)

    assert _session(send_only, draft["id"], 5 * MB).status_code == 403
    graph.post(f"me/messages/{draft['id']}/send")
    sent = Message.objects.get(mailbox=recruiter_ms)
    refused = _session(graph, sent.immutable_id or sent.provider_id, 5 * MB)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ErrorInvalidOperation"
