"""Batch wire format, quota accounting, injected faults and the request log."""

import json
import socket
import time

import google_auth_httplib2
import httplib2
import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from sandbox import services
from sandbox.google import scopes
from sandbox.models import RequestLog
from tests.sandbox.conftest import raw_message


def _deliver(mailbox, count: int) -> list:
    return [
        services.message_deliver(
            mailbox=mailbox,
            raw=raw_message(sender="a@people.test", to=mailbox.address, subject=f"M{n}"),
        )
        for n in range(count)
    ]


def test_batch_of_50_gets_is_answered_part_by_part_and_charged_per_call(
    recruiter, token_for, gmail_for
):
    stored = _deliver(recruiter, 50)
    service = gmail_for(token_for(recruiter, scopes.READONLY))
    answers: dict[str, dict] = {}

    def collect(request_id, response, exception):
        assert exception is None
        answers[request_id] = response

    batch = service.new_batch_http_request(callback=collect)
    for message in stored:
        batch.add(
            service.users().messages().get(userId="me", id=message.provider_id, format="minimal"),
            request_id=message.provider_id,
        )
    batch.execute()

    assert len(answers) == 50
    assert all(answers[m.provider_id]["id"] == m.provider_id for m in stored)
    inner = RequestLog.objects.filter(operation="gmail.users.messages.get")
    assert inner.count() == 50
    assert {entry.units for entry in inner} == {5}
    assert {entry.format for entry in inner} == {"minimal"}
    outer = RequestLog.objects.get(operation="batch")
    assert set(inner.values_list("batch_id", flat=True)) == {outer.batch_id}


def test_batch_endpoint_answers_errors_per_part_and_inherits_outer_auth(
    recruiter, token_for, live_server
):
    (message,) = _deliver(recruiter, 1)
    token = token_for(recruiter, scopes.READONLY)
    parts = [
        (
            "1",
            f"GET /sandbox/google/gmail/v1/users/me/messages/{message.provider_id}"
            "?format=minimal HTTP/1.1",
        ),
        ("2", "GET /sandbox/google/gmail/v1/users/me/messages/0000000000000000 HTTP/1.1"),
    ]
    body = (
        "".join(
            "--XX\r\nContent-Type: application/http\r\n"
            f"Content-ID: <item{cid}>\r\n\r\n{line}\r\n\r\n"
            for cid, line in parts
        )
        + "--XX--\r\n"
    )
    response = requests.post(
        f"{live_server.url}/sandbox/google/batch/gmail/v1",
        data=body,
        headers={
            "Content-Type": "multipart/mixed; boundary=XX",
            "Authorization": f"Bearer {token}",
        },
        timeout=5,
    )
    assert response.status_code == 200
    text = response.text
    assert "Content-ID: <response-item1>" in text and "Content-ID: <response-item2>" in text
    assert "HTTP/1.1 200 OK" in text and "HTTP/1.1 404 Not Found" in text

    too_many = (
        "".join(
            f"--XX\r\nContent-Type: application/http\r\n\r\n{parts[0][1]}\r\n\r\n"
            for _ in range(101)
        )
        + "--XX--\r\n"
    )
    refused = requests.post(
        f"{live_server.url}/sandbox/google/batch",
        data=too_many,
        headers={"Content-Type": "multipart/mixed; boundary=XX"},
        timeout=5,
    )
    assert refused.status_code == 400


def test_quota_exhaustion_answers_429_with_retry_after(recruiter, token_for, live_server):
    services.quota_set(mailbox=recruiter, per_minute=12)
    token = token_for(recruiter)
    url = f"{live_server.url}/sandbox/google/gmail/v1/users/me/messages"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 200  # 5 units
    assert requests.get(url, headers=headers, timeout=5).status_code == 200  # 10 units
    limited = requests.get(url, headers=headers, timeout=5)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    error = limited.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["message"].startswith("User-rate limit exceeded.  Retry after ")
    # A cheaper call still fits in what is left of the minute.
    profile = requests.get(url.replace("/messages", "/profile"), headers=headers, timeout=5)
    assert profile.status_code == 200
    statuses = list(RequestLog.objects.values_list("units", "status"))
    assert statuses == [(5, 200), (5, 200), (0, 429), (1, 200)]


@pytest.mark.parametrize(
    ("status", "reason"), [(429, "rateLimitExceeded"), (500, "backendError"), (503, "backendError")]
)
def test_injected_faults_answer_the_next_calls_then_recover(
    recruiter, token_for, gmail_for, status, reason
):
    services.fault_set(mailbox=recruiter, count=2, status=status)
    users = gmail_for(token_for(recruiter)).users()
    for _ in range(2):
        with pytest.raises(HttpError) as failed:
            users.getProfile(userId="me").execute()
        assert failed.value.status_code == status
        assert json.loads(failed.value.content)["error"]["errors"][0]["reason"] == reason
    assert users.getProfile(userId="me").execute()["emailAddress"] == recruiter.address


def test_injected_delay_trips_a_client_timeout(recruiter, token_for, gmail_for):
    services.fault_set(mailbox=recruiter, count=1, delay=1.0)
    http = google_auth_httplib2.AuthorizedHttp(
        Credentials(token_for(recruiter)), http=httplib2.Http(timeout=0.3)
    )
    service = gmail_for(token_for(recruiter))
    with pytest.raises((TimeoutError, socket.timeout)):
        service.users().getProfile(userId="me").execute(http=http)
    # Let the stalled call finish before the test's database goes away.
    deadline = time.monotonic() + 5
    while not RequestLog.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.users().getProfile(userId="me").execute()["emailAddress"]


def test_request_log_records_operation_format_scopes_units_and_status(
    recruiter, token_for, gmail_for
):
    (message,) = _deliver(recruiter, 1)
    users = gmail_for(token_for(recruiter, scopes.READONLY, scopes.LABELS)).users()
    users.messages().get(userId="me", id=message.provider_id, format="metadata").execute()
    users.labels().list(userId="me").execute()
    with pytest.raises(HttpError):
        users.messages().modify(userId="me", id=message.provider_id, body={}).execute()
    rows = list(
        RequestLog.objects.values_list(
            "operation", "format", "units", "status", "scopes", "mailbox__address", "method"
        )
    )
    granted = f"{scopes.READONLY} {scopes.LABELS}"
    assert rows == [
        ("gmail.users.messages.get", "metadata", 5, 200, granted, recruiter.address, "GET"),
        ("gmail.users.labels.list", "", 1, 200, granted, recruiter.address, "GET"),
        ("gmail.users.messages.modify", "", 0, 403, granted, recruiter.address, "POST"),
    ]
