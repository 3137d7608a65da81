"""users.messages.batchModify as Google serves it: one POST labels up to 1000 messages,
answers 204 with an empty body, passes over ids the mailbox does not hold, refuses more
than 1000 ids, and costs 50 quota units a call."""

import json

import pytest
import requests
from googleapiclient.errors import HttpError

from sandbox import services
from sandbox.google import scopes
from sandbox.models import HistoryEvent, Message, RequestLog
from tests.sandbox.conftest import raw_message


def _deliver(mailbox, count: int) -> list[Message]:
    return [
        services.message_deliver(
            mailbox=mailbox,
            raw=raw_message(sender="a@people.test", to=mailbox.address, subject=f"M{n}"),
        )
        for n in range(count)
    ]


@pytest.fixture
def label(recruiter):
    return services.label_create(mailbox=recruiter, name="Threadline")


def _batch_modify(live_server, token: str, body: dict) -> requests.Response:
    return requests.post(
        f"{live_server.url}/sandbox/google/gmail/v1/users/me/messages/batchModify",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_one_call_labels_every_message_answers_204_and_costs_50_units(
    recruiter, label, token_for, live_server
):
    messages = _deliver(recruiter, 12)
    ids = [m.provider_id for m in messages]

    answer = _batch_modify(
        live_server,
        token_for(recruiter),
        {"ids": [*ids, "18c0ffee00000000"], "addLabelIds": [label.provider_id]},
    )

    assert answer.status_code == 204
    assert answer.content == b""
    assert all(label.provider_id in m.labels for m in Message.objects.filter(mailbox=recruiter))
    added = HistoryEvent.objects.filter(mailbox=recruiter, kind=HistoryEvent.Kind.LABEL_ADDED)
    assert sorted(added.values_list("message_id", flat=True)) == sorted(ids)
    assert len(set(added.values_list("history_id", flat=True))) == 12
    logged = RequestLog.objects.get()
    assert (logged.operation, logged.status, logged.units) == (
        "gmail.users.messages.batchModify",
        204,
        50,
    )


def test_googleapiclient_adds_and_removes_labels_in_one_call(
    recruiter, label, token_for, gmail_for
):
    messages = _deliver(recruiter, 3)
    users = gmail_for(token_for(recruiter)).users()

    result = (
        users.messages()
        .batchModify(
            userId="me",
            body={
                "ids": [m.provider_id for m in messages],
                "addLabelIds": [label.provider_id],
                "removeLabelIds": ["UNREAD"],
            },
        )
        .execute()
    )

    assert not result
    for message in Message.objects.filter(mailbox=recruiter):
        assert label.provider_id in message.labels
        assert "UNREAD" not in message.labels


def test_more_than_1000_ids_are_refused_before_any_quota_is_charged(
    recruiter, label, token_for, live_server
):
    (message,) = _deliver(recruiter, 1)

    answer = _batch_modify(
        live_server,
        token_for(recruiter),
        {"ids": [message.provider_id] * 1001, "addLabelIds": [label.provider_id]},
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "1000" in answer.json()["error"]["message"]
    message.refresh_from_db()
    assert label.provider_id not in message.labels
    assert RequestLog.objects.get().units == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"ids": [], "addLabelIds": ["INBOX"]}, 400),
        ({"ids": "not-a-list"}, 400),
        ({"ids": ["x"], "addLabelIds": ["Label_nope"]}, 400),
        ({"ids": ["x"], "addLabelIds": ["SENT"]}, 400),
    ],
)
def test_malformed_requests_answer_400(recruiter, token_for, live_server, body, status):
    _deliver(recruiter, 1)
    answer = _batch_modify(live_server, token_for(recruiter), body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == status


def test_readonly_and_send_scopes_may_not_batch_modify(recruiter, token_for, gmail_for):
    (message,) = _deliver(recruiter, 1)
    for scope in (scopes.READONLY, scopes.SEND):
        users = gmail_for(token_for(recruiter, scope)).users()
        with pytest.raises(HttpError) as excinfo:
            users.messages().batchModify(
                userId="me", body={"ids": [message.provider_id], "removeLabelIds": ["UNREAD"]}
            ).execute()
        assert excinfo.value.resp.status == 403
        assert json.loads(excinfo.value.content)["error"]["errors"][0]["reason"] == (
            "insufficientPermissions"
        )


def test_inside_a_batch_the_part_answers_204_with_no_body(recruiter, label, token_for, gmail_for):
    messages = _deliver(recruiter, 2)
    service = gmail_for(token_for(recruiter))
    answers: dict[str, object] = {}
    batch = service.new_batch_http_request(
        callback=lambda request_id, response, exception: answers.update(
            {request_id: exception or response}
        )
    )
    batch.add(
        service.users()
        .messages()
        .batchModify(
            userId="me",
            body={"ids": [m.provider_id for m in messages], "addLabelIds": [label.provider_id]},
        ),
        request_id="label",
    )
    batch.add(
        service.users().messages().get(userId="me", id=messages[0].provider_id, fields="labelIds"),
        request_id="check",
    )
    batch.execute()

    assert not answers["label"]
    assert label.provider_id in answers["check"]["labelIds"]
    inner = RequestLog.objects.get(operation="gmail.users.messages.batchModify")
    assert (inner.status, inner.response_bytes) == (204, 0)
