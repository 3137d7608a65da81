"""Gmail API v1 operations (registered with `api.route`) and the Django views that feed
plain HTTP calls into `api.process`."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import selectors, services
from sandbox.google import errors, representation
from sandbox.google.api import ApiRequest, ApiResponse, Call, process, route
from sandbox.google.batch import split_multipart
from sandbox.google.query import parse_query
from sandbox.google.scopes import METADATA
from sandbox.http import request_body
from sandbox.models import Label
from sandbox.requestlog import log_write

USERS = "gmail/v1/users/{user_id}"
UPLOAD = "upload/gmail/v1/users/{user_id}"
DEFAULT_PAGE, MAX_PAGE = 100, 500


def _page_size(call: Call) -> int:
    value = call.query.get("maxResults", "")
    if not value:
        return DEFAULT_PAGE
    if not value.isdigit():
        raise errors.invalid_argument(f"Invalid value for maxResults: {value}")
    # Gmail quietly caps oversized pages rather than refusing them.
    return min(max(int(value), 1), MAX_PAGE)


def _json_body(call: Call) -> dict:
    if not call.request.body:
        return {}
    try:
        body = json.loads(call.request.body)
    except ValueError as error:
        raise errors.invalid_argument("Invalid JSON payload received.") from error
    if not isinstance(body, dict):
        raise errors.invalid_argument("Invalid JSON payload received.")
    return body


def _metadata_only(call: Call) -> bool:
    # Gmail applies the metadata restrictions whenever the token carries gmail.metadata,
    # even alongside broader scopes (a long-standing, documented quirk).
    return METADATA in call.scopes


def _true(value: str) -> bool:
    return value.lower() in ("true", "1")


# --- Profile and labels ------------------------------------------------------------------


@route("GET", USERS + "/profile", "gmail.users.getProfile")
def get_profile(call: Call) -> dict:
    total, threads = selectors.mailbox_totals(call.mailbox)
    call.mailbox.refresh_from_db(fields=["history_id"])
    return {
        "emailAddress": call.mailbox.address,
        "messagesTotal": total,
        "threadsTotal": threads,
        "historyId": str(call.mailbox.history_id),
    }


@route("GET", USERS + "/labels", "gmail.users.labels.list")
def labels_list(call: Call) -> dict:
    labels = Label.objects.filter(mailbox=call.mailbox)
    return {"labels": [representation.label_resource(label) for label in labels]}


@route("POST", USERS + "/labels", "gmail.users.labels.create")
def labels_create(call: Call) -> dict:
    body = _json_body(call)
    options = {
        key: body[key]
        for key in ("messageListVisibility", "labelListVisibility", "color")
        if key in body
    }
    label = services.label_create(mailbox=call.mailbox, name=body.get("name", ""), options=options)
    return representation.label_resource(label)


# --- Messages ----------------------------------------------------------------------------


def _check_list(call: Call) -> None:
    if _metadata_only(call) and "q" in call.query:
        raise errors.forbidden("Metadata scope does not support 'q' parameter")


@route("GET", USERS + "/messages", "gmail.users.messages.list", precheck=_check_list)
def messages_list(call: Call) -> dict:
    page = selectors.message_page(**_list_arguments(call))
    return _list_answer(page, "messages", [{"id": row[1], "threadId": row[2]} for row in page.rows])


def _list_arguments(call: Call) -> dict[str, Any]:
    """What messages.list and threads.list both take: `q`, labels, spam/trash, paging."""
    search = parse_query(call.query.get("q", ""), selectors.labels_by_name(call.mailbox))
    return {
        "mailbox": call.mailbox,
        "where": search.q,
        "label_ids": call.query.getlist("labelIds"),
        "include_spam_trash": (
            _true(call.query.get("includeSpamTrash", "")) or search.wants_spam_trash
        ),
        "page_token": call.query.get("pageToken", ""),
        "limit": _page_size(call),
    }


def _list_answer(page: Any, key: str, items: list[dict]) -> dict:
    """A list answer as Gmail shapes it: no key for an empty page, the next page's token
    only when there is one, and always an estimate."""
    result: dict = {}
    if items:
        result[key] = items
    if page.next_token:
        result["nextPageToken"] = page.next_token
    result["resultSizeEstimate"] = page.estimate
    return result


def _format(call: Call) -> str:
    fmt = call.query.get("format", "full").lower()
    if fmt not in representation.FORMATS:
        raise errors.invalid_argument(f"Invalid value at 'format' ({fmt})")
    return fmt


def _check_get(call: Call) -> None:
    fmt = _format(call)
    if _metadata_only(call) and fmt in ("full", "raw"):
        raise errors.forbidden(f"Metadata scope doesn't allow format {fmt.upper()}")


@route("GET", USERS + "/messages/{id}", "gmail.users.messages.get", precheck=_check_get)
def messages_get(call: Call) -> dict:
    fmt = _format(call)
    if call.request.batch is not None:
        message = call.request.batch.message(call.mailbox, call.params["id"])
    else:
        message = selectors.message_get(
            mailbox=call.mailbox, provider_id=call.params["id"], with_raw=fmt in ("full", "raw")
        )
    return representation.message_resource(message, fmt, call.query.getlist("metadataHeaders"))


@route(
    "GET", USERS + "/messages/{message_id}/attachments/{id}", "gmail.users.messages.attachments.get"
)
def attachments_get(call: Call) -> dict:
    message = selectors.message_get(mailbox=call.mailbox, provider_id=call.params["message_id"])
    return representation.attachment_resource(message, call.params["id"])


@route("POST", USERS + "/messages/{id}/modify", "gmail.users.messages.modify")
def messages_modify(call: Call) -> dict:
    body = _json_body(call)
    message = selectors.message_get(
        mailbox=call.mailbox, provider_id=call.params["id"], with_raw=False
    )
    message = services.message_modify_labels(
        message=message, add=body.get("addLabelIds") or [], remove=body.get("removeLabelIds") or []
    )
    result: dict[str, str | list[str]] = {"id": message.provider_id, "threadId": message.thread_id}
    if message.labels:
        result["labelIds"] = message.labels
    return result


BATCH_MODIFY_MAX_IDS = 1000


def _string_list(body: dict, key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise errors.invalid_argument(f"Invalid value at '{key}'")
    return value


def _check_batch_modify(call: Call) -> None:
    # Refused before quota is charged, as a malformed request is at Google.
    ids = _string_list(_json_body(call), "ids")
    if not ids:
        raise errors.invalid_argument("No message ids specified.")
    if len(ids) > BATCH_MODIFY_MAX_IDS:
        raise errors.invalid_argument(
            f"Too many messages: {len(ids)}; the limit is {BATCH_MODIFY_MAX_IDS} per request."
        )


@route(
    "POST",
    USERS + "/messages/batchModify",
    "gmail.users.messages.batchModify",
    precheck=_check_batch_modify,
)
def messages_batch_modify(call: Call) -> None:
    """Google answers 204 with no body, and passes over ids the mailbox does not hold."""
    body = _json_body(call)
    services.messages_modify_labels(
        mailbox=call.mailbox,
        messages=selectors.messages_by_ids(
            mailbox=call.mailbox, provider_ids=_string_list(body, "ids")
        ),
        add=_string_list(body, "addLabelIds"),
        remove=_string_list(body, "removeLabelIds"),
    )


# messages.send's mediaUpload.maxSize in Gmail's discovery document (35 MB): the
# whole message, encoded, which holds Gmail's 25 MB of attachments.
MAX_MESSAGE_BYTES = 36700160


def _send(call: Call, raw: bytes, thread_id: str) -> dict:
    if not raw:
        raise errors.invalid_argument(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
        )
    if len(raw) > MAX_MESSAGE_BYTES:
        raise errors.GmailError(
            413,
            f"Request Entity Too Large: the message is {len(raw)} bytes; the limit is "
            f"{MAX_MESSAGE_BYTES}.",
            "uploadTooLarge",
        )
    message = services.message_send(mailbox=call.mailbox, raw=raw, thread_id=thread_id)
    assert message is not None  # the sender keeps a copy unless told not to (save_copy)
    return {"id": message.provider_id, "threadId": message.thread_id, "labelIds": message.labels}


@route("POST", USERS + "/messages/send", "gmail.users.messages.send")
def messages_send(call: Call) -> dict:
    body = _json_body(call)
    try:
        raw = representation.b64url_decode(body.get("raw") or "")
    except ValueError as error:
        raise errors.invalid_argument("Invalid value for ByteString") from error
    return _send(call, raw, body.get("threadId") or "")


@route("POST", UPLOAD + "/messages/send", "gmail.users.messages.send")
def messages_send_upload(call: Call) -> dict:
    """The media-upload variant: uploadType=media (the body is the message) or multipart
    (a JSON metadata part, then the message)."""
    upload_type = call.query.get("uploadType", "media")
    content_type = call.request.content_type
    if upload_type == "multipart" or content_type.startswith("multipart/related"):
        parts = split_multipart(call.request.body, content_type)
        if len(parts) != 2:
            raise errors.invalid_argument("Multipart upload needs a metadata and a media part")
        try:
            metadata = json.loads(parts[0].body or b"{}")
        except ValueError as error:
            raise errors.invalid_argument("Invalid JSON payload received.") from error
        return _send(call, parts[1].body, metadata.get("threadId") or "")
    if upload_type != "media":
        raise errors.invalid_argument(f"Unsupported uploadType: {upload_type}")
    return _send(call, call.request.body, "")


# --- Threads -----------------------------------------------------------------------------


@route("GET", USERS + "/threads", "gmail.users.threads.list", precheck=_check_list)
def threads_list(call: Call) -> dict:
    page = selectors.thread_page(**_list_arguments(call))
    threads = [
        {"id": thread_id, "snippet": snippet, "historyId": str(history_id)}
        for thread_id, snippet, history_id in page.rows
    ]
    return _list_answer(page, "threads", threads)


def _check_thread(call: Call) -> None:
    fmt = _format(call)
    if fmt == "raw":
        raise errors.invalid_argument("Invalid value at 'format' (raw)")
    if _metadata_only(call) and fmt == "full":
        raise errors.forbidden("Metadata scope doesn't allow format FULL")


@route("GET", USERS + "/threads/{id}", "gmail.users.threads.get", precheck=_check_thread)
def threads_get(call: Call) -> dict:
    fmt = _format(call)
    messages = selectors.thread_messages(
        mailbox=call.mailbox, thread_id=call.params["id"], with_raw=fmt == "full"
    )
    headers = call.query.getlist("metadataHeaders")
    return {
        "id": call.params["id"],
        # Gmail's thread snippet is its newest message's, whatever the format.
        "snippet": messages[-1].snippet,
        "historyId": str(max(message.history_id for message in messages)),
        "messages": [representation.message_resource(m, fmt, headers) for m in messages],
    }


# --- History -----------------------------------------------------------------------------


@route("GET", USERS + "/history", "gmail.users.history.list")
def history_list(call: Call) -> dict:
    start = call.query.get("startHistoryId", "")
    if not start.isdigit():
        raise errors.invalid_argument("Missing/invalid parameter: startHistoryId")
    call.mailbox.refresh_from_db(fields=["history_id", "history_floor"])
    if int(start) < call.mailbox.history_floor:
        raise errors.not_found()
    page = selectors.history_page(
        mailbox=call.mailbox,
        start_history_id=int(start),
        kinds=call.query.getlist("historyTypes"),
        label_id=call.query.get("labelId", ""),
        page_token=call.query.get("pageToken", ""),
        limit=_page_size(call),
    )
    result: dict = {}
    if page.rows:
        result["history"] = [representation.history_record(event) for event in page.rows]
    if page.next_token:
        result["nextPageToken"] = page.next_token
    result["historyId"] = str(call.mailbox.history_id)
    return result


# --- HTTP entry point --------------------------------------------------------------------


def api_request_from(request: HttpRequest, path: str) -> ApiRequest:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return ApiRequest(
        method=request.method or "GET",
        path=path,
        full_path=request.get_full_path(),
        query=request.GET,
        headers=headers,
        body=request_body(request),
    )


def to_http(response: ApiResponse) -> HttpResponse:
    if response.payload is None:
        return HttpResponse(status=response.status)
    answer = HttpResponse(response.content, status=response.status, content_type=errors.JSON_TYPE)
    for name, value in response.headers.items():
        answer[name] = value
    return answer


@csrf_exempt
def gmail_api(request: HttpRequest, rest: str, prefix: str = "gmail/v1/") -> HttpResponse:
    response, entry = process(api_request_from(request, prefix + rest))
    log_write([entry])
    return to_http(response)


@csrf_exempt
def gmail_upload(request: HttpRequest, rest: str) -> HttpResponse:
    return gmail_api(request, rest, prefix="upload/gmail/v1/")
