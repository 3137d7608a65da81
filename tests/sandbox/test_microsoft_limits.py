"""JSON batching, Graph's throttling, permission refusals, injected faults and the log."""

import base64
import threading
import time

import pytest
import requests

from sandbox import services
from sandbox.models import RequestLog
from tests.sandbox.conftest import raw_message


def _deliver(mailbox, count: int) -> list:
    return [
        services.message_deliver(
            mailbox=mailbox,
            raw=raw_message(sender="c@people.test", to=mailbox.address, subject=f"M{n}"),
        )
        for n in range(count)
    ]


def test_a_batch_of_20_is_answered_part_by_part_and_logged_per_call(graph_for, recruiter_ms):
    stored = _deliver(recruiter_ms, 18)
    graph = graph_for(recruiter_ms, "Mail.Read")
    requests_ = [
        {"id": str(n), "method": "GET", "url": f"/me/messages/{m.provider_id}?$select=subject"}
        for n, m in enumerate(stored)
    ]
    requests_.append({"id": "18", "method": "GET", "url": "/me/messages/AAMkAnope="})
    requests_.append(
        {"id": "19", "method": "GET", "url": f"/me/messages/{stored[0].provider_id}/$value"}
    )
    answer = graph.post("$batch", {"requests": requests_})
    assert answer.status_code == 200
    parts = {part["id"]: part for part in answer.json()["responses"]}
    assert len(parts) == 20
    assert parts["3"]["status"] == 200 and parts["3"]["body"]["subject"] == "M3"
    assert parts["18"]["status"] == 404
    assert parts["18"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert base64.b64decode(parts["19"]["body"]) == bytes(stored[0].raw)

    inner = RequestLog.objects.exclude(operation="graph.batch")
    assert inner.count() == 20
    outer = RequestLog.objects.get(operation="graph.batch")
    assert set(inner.values_list("batch_id", flat=True)) == {outer.batch_id}
    assert outer.status == 200

    too_many = graph.post(
        "$batch", {"requests": [{**requests_[0], "id": str(n)} for n in range(21)]}
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "BadRequest"


def test_batch_parts_are_authorized_and_faulted_one_by_one(graph_for, recruiter_ms, candidate):
    (stored,) = _deliver(recruiter_ms, 1)
    graph = graph_for(recruiter_ms, "Mail.Read")
    services.fault_set(mailbox=recruiter_ms, count=1, status=503)
    answer = graph.post(
        "$batch",
        {
            "requests": [
                {"id": "a", "method": "GET", "url": f"/me/messages/{stored.provider_id}"},
                {"id": "b", "method": "GET", "url": f"/me/messages/{stored.provider_id}"},
                {
                    "id": "c",
                    "method": "POST",
                    "url": "/me/sendMail",
                    "headers": {"Content-Type": "application/json"},
                    "body": {
                        "message": {
                            "subject": "x",
                            "toRecipients": [{"emailAddress": {"address": candidate.address}}],
                        }
                    },
                },
                {"id": "d", "dependsOn": ["c"], "method": "GET", "url": "/me"},
            ]
        },
    )
    statuses = {part["id"]: part["status"] for part in answer.json()["responses"]}
    assert statuses == {"a": 503, "b": 200, "c": 403, "d": 424}


def test_more_than_four_concurrent_requests_are_throttled(graph_for, recruiter_ms):
    graph = graph_for(recruiter_ms, "User.Read")
    services.fault_set(mailbox=recruiter_ms, count=4, delay=1.0)
    results: list[int] = []
    workers = [
        threading.Thread(target=lambda: results.append(graph.get("me").status_code))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.4)
    fifth = graph.get("me")
    for worker in workers:
        worker.join()
    assert fifth.status_code == 429
    assert fifth.headers["Retry-After"] == "1"
    error = fifth.json()["error"]
    assert error["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in error["message"]
    assert results == [200, 200, 200, 200]
    assert graph.get("me").status_code == 200


def test_the_ten_minute_request_limit_answers_429_with_retry_after(graph_for, recruiter_ms):
    services.graph_limits_set(mailbox=recruiter_ms, per_ten_minutes=3, concurrent=None)
    graph = graph_for(recruiter_ms, "User.Read")
    assert [graph.get("me").status_code for _ in range(3)] == [200, 200, 200]
    limited = graph.get("me")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 600
    assert limited.json()["error"]["code"] == "ApplicationThrottled"


def test_mail_send_alone_can_send_but_not_read(graph_for, recruiter_ms, candidate):
    graph = graph_for(recruiter_ms, "https://graph.microsoft.com/Mail.Send")
    sent = graph.post(
        "me/sendMail",
        {
            "message": {
                "subject": "Hi",
                "toRecipients": [{"emailAddress": {"address": candidate.address}}],
            }
        },
    )
    assert sent.status_code == 202
    for path in ("me/messages", "me/mailFolders/inbox/messages/delta", "me/mailFolders"):
        refused = graph.get(path)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert graph.post("me/messages", {"subject": "draft"}).status_code == 403


def test_missing_or_foreign_tokens_are_401(
    ms_server, graph_for, recruiter_ms, candidate, token_for
):
    root = f"{ms_server.url}/sandbox/microsoft/graph/v1.0"
    missing = requests.get(f"{root}/me", timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "Bearer" in missing.headers["WWW-Authenticate"]
    google = requests.get(
        f"{root}/me", headers={"Authorization": f"Bearer {token_for(candidate)}"}, timeout=10
    )
    assert google.status_code == 401


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "ApplicationThrottled"), (500, "generalException"), (503, "serviceNotAvailable")],
)
def test_injected_faults_answer_the_next_calls_then_recover(graph_for, recruiter_ms, status, code):
    graph = graph_for(recruiter_ms, "User.Read")
    services.fault_set(mailbox=recruiter_ms, count=2, status=status)
    for _ in range(2):
        failed = graph.get("me")
        assert failed.status_code == status
        assert failed.json()["error"]["code"] == code
    assert graph.get("me").json()["mail"] == recruiter_ms.address


def test_request_log_records_operation_format_prefer_scopes_and_status(graph_for, recruiter_ms):
    (stored,) = _deliver(recruiter_ms, 1)
    graph = graph_for(recruiter_ms, "Mail.Read", Prefer='IdType="ImmutableId"')
    graph.get(f"me/messages/{stored.provider_id}", params={"$select": "internetMessageHeaders"})
    graph.get(f"me/messages/{stored.provider_id}/$value")
    graph.patch(f"me/messages/{stored.provider_id}", {"categories": ["x"]})
    rows = list(
        RequestLog.objects.values_list(
            "operation", "format", "status", "prefer", "scopes", "mailbox__address", "method"
        )
    )
    prefer = 'IdType="ImmutableId"'
    assert rows == [
        ("graph.messages.get", "headers", 200, prefer, "Mail.Read", recruiter_ms.address, "GET"),
        ("graph.messages.value", "mime", 200, prefer, "Mail.Read", recruiter_ms.address, "GET"),
        ("graph.messages.patch", "", 403, prefer, "Mail.Read", recruiter_ms.address, "PATCH"),
    ]
    assert RequestLog.objects.first().path.endswith("?%24select=internetMessageHeaders")
