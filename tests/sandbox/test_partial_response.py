"""Google's partial responses (`fields=`) on messages.get, messages.list and history.list,
through googleapiclient: nested paths, sub-selections in parentheses, the wildcard, the 400
for an invalid selection, and what the request log records of it."""

import json

import pytest
import requests
from googleapiclient.errors import HttpError

from sandbox import services
from sandbox.google import scopes
from sandbox.models import RequestLog
from tests.sandbox.conftest import raw_message

MARKER = "Quetzalcoatl-7731"


@pytest.fixture
def users(recruiter, token_for, gmail_for):
    return gmail_for(token_for(recruiter, scopes.MODIFY)).users()


@pytest.fixture
def delivered(recruiter):
    return services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(
            sender="someone@people.test",
            to=recruiter.address,
            subject="Private matter",
            body=f"{MARKER} is the word for my doctor's appointment.",
            message_id="private@people.test",
        ),
    )


def _get(users, message_id: str, **params) -> dict:
    return users.messages().get(userId="me", id=message_id, **params).execute()


def test_metadata_get_with_fields_answers_the_headers_and_no_snippet(users, delivered):
    whole = _get(users, delivered.provider_id, format="metadata", metadataHeaders=["Message-ID"])
    assert MARKER in whole["snippet"]  # what a headers-only check carried without fields

    partial = _get(
        users,
        delivered.provider_id,
        format="metadata",
        metadataHeaders=["Message-ID"],
        fields="payload/headers",
    )

    assert partial == {
        "payload": {"headers": [{"name": "Message-ID", "value": "<private@people.test>"}]}
    }


def test_nested_paths_sub_selections_and_wildcard_select_the_same_way(users, delivered):
    message_id = delivered.provider_id
    by_path = _get(users, message_id, format="full", fields="id,payload/headers/name")
    by_parentheses = _get(users, message_id, format="full", fields="id,payload(headers(name))")
    assert by_path == by_parentheses
    assert by_path["id"] == message_id
    assert set(by_path["payload"]) == {"headers"}
    assert {"name": "Subject"} in by_path["payload"]["headers"]
    assert all(set(header) == {"name"} for header in by_path["payload"]["headers"])

    nested = _get(users, message_id, format="full", fields="payload(mimeType,body/size)")
    assert nested["payload"]["mimeType"] == "text/plain"
    assert set(nested["payload"]) == {"mimeType", "body"}
    assert set(nested["payload"]["body"]) == {"size"}

    everything = _get(users, message_id, format="minimal")
    assert _get(users, message_id, format="minimal", fields="*") == everything
    assert _get(users, message_id, format="full", fields="payload/body/*") == {
        "payload": {"body": _get(users, message_id, format="full")["payload"]["body"]}
    }
    # A selected field the answer does not hold is simply absent.
    assert _get(users, message_id, format="minimal", fields="id,raw") == {"id": message_id}


def test_list_and_history_apply_fields_to_each_element(recruiter, users, delivered):
    listed = users.messages().list(userId="me", fields="messages(id),nextPageToken").execute()
    assert listed == {"messages": [{"id": delivered.provider_id}]}  # no estimate, no token

    history = (
        users.history()
        .list(
            userId="me",
            startHistoryId="1",
            historyTypes=["messageAdded"],
            fields="history/messagesAdded/message(id,threadId),historyId",
        )
        .execute()
    )
    assert history["historyId"] == str(recruiter.history_id)
    added = {"id": delivered.provider_id, "threadId": delivered.thread_id}
    assert history["history"] == [{"messagesAdded": [{"message": added}]}]


@pytest.mark.parametrize(
    ("selection", "named"),
    [
        ("snippett", "snippett"),  # not a Message field
        ("id/value", "id/value"),  # below a plain value
        ("payload/headers/nme", "payload/headers/nme"),
        ("payload(headers", "payload(headers"),
        ("id)", "id)"),
        ("id,,threadId", "id,,threadId"),
        ("payload/", "payload/"),
        ("*/id", "*/id"),
        ("id;threadId", "id;threadId"),
    ],
)
def test_an_invalid_selection_answers_400_like_google_and_costs_nothing(
    users, delivered, selection, named
):
    with pytest.raises(HttpError) as excinfo:
        _get(users, delivered.provider_id, format="metadata", fields=selection)

    assert excinfo.value.resp.status == 400
    error = json.loads(excinfo.value.content)["error"]
    assert error["message"] == f"Invalid field selection {named}"
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["errors"][0]["reason"] == "invalidParameter"
    assert error["errors"][0]["location"] == "fields"
    logged = RequestLog.objects.get(status=400)
    assert logged.units == 0
    assert logged.fields == selection


def test_list_and_history_check_their_own_schemas(users):
    with pytest.raises(HttpError) as listed:
        users.messages().list(userId="me", fields="messages/snippet,history").execute()
    assert json.loads(listed.value.content)["error"]["message"] == (
        "Invalid field selection history"
    )
    with pytest.raises(HttpError) as history:
        users.history().list(userId="me", startHistoryId="1", fields="messages").execute()
    assert history.value.resp.status == 400


def test_batch_parts_apply_fields_and_the_log_records_them_with_the_answer_size(
    recruiter, token_for, gmail_for, delivered
):
    service = gmail_for(token_for(recruiter, scopes.MODIFY))
    answers: dict[str, dict] = {}
    batch = service.new_batch_http_request(
        callback=lambda request_id, response, exception: answers.update({request_id: response})
    )
    get = service.users().messages().get
    batch.add(get(userId="me", id=delivered.provider_id, format="metadata"), request_id="whole")
    batch.add(
        get(userId="me", id=delivered.provider_id, format="metadata", fields="payload/headers"),
        request_id="partial",
    )
    batch.execute()

    assert "snippet" in answers["whole"]
    assert set(answers["partial"]) == {"payload"}
    whole, partial = RequestLog.objects.filter(operation="gmail.users.messages.get")
    assert (whole.fields, partial.fields) == ("", "payload/headers")
    assert "fields=payload%2Fheaders" in partial.path
    assert partial.response_bytes == len(json.dumps(answers["partial"]).encode())
    assert 0 < partial.response_bytes < whole.response_bytes
    outer = RequestLog.objects.get(operation="batch")
    assert outer.response_bytes > whole.response_bytes + partial.response_bytes
    assert not partial.response_body  # answers are kept only when a test asks


def test_answers_are_logged_when_asked(recruiter, token_for, live_server, delivered, settings):
    settings.SANDBOX_LOG_RESPONSE_BODIES = True
    answer = requests.get(
        f"{live_server.url}/sandbox/google/gmail/v1/users/me/messages/{delivered.provider_id}",
        params={"format": "metadata", "fields": "id"},
        headers={"Authorization": f"Bearer {token_for(recruiter)}"},
        timeout=10,
    )
    logged = RequestLog.objects.get()
    assert logged.response_body == answer.text == json.dumps({"id": delivered.provider_id})
    assert logged.response_bytes == len(answer.content)


def test_threads_get_carries_snippets_unless_fields_leave_them_out(users, delivered):
    whole = users.threads().get(userId="me", id=delivered.thread_id, format="minimal").execute()
    assert MARKER in whole["snippet"]
    assert MARKER in whole["messages"][0]["snippet"]

    partial = (
        users.threads()
        .get(userId="me", id=delivered.thread_id, format="minimal", fields="messages(id,labelIds)")
        .execute()
    )

    assert partial == {"messages": [{"id": delivered.provider_id, "labelIds": ["INBOX", "UNREAD"]}]}
