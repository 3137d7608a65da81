"""Microsoft Graph v1.0 mail operations (registered with `api.route`) and the Django view
that feeds plain HTTP calls into `api.process`."""

import base64
import binascii
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from sandbox import services
from sandbox.http import request_body
from sandbox.microsoft import (
    compose,
    contact_views,  # noqa: F401 (import registers the routes)
    delta,
    errors,
    folder_views,  # noqa: F401 (import registers the routes)
    representation,
    uploads,
)
from sandbox.microsoft.api import (
    Call,
    GraphRequest,
    GraphResponse,
    int_param,
    process,
    route,
)
from sandbox.microsoft.identity import object_id
from sandbox.microsoft.query import parse_filter, parse_search
from sandbox.models import Message
from sandbox.requestlog import log_write

DEFAULT_TOP, MAX_TOP = 10, 1000
MESSAGE = "me/messages/{id}"
FOLDER_MESSAGE = "me/mailFolders/{folder}/messages/{id}"


def _json_body(call: Call) -> dict:
    if not call.request.body:
        return {}
    try:
        body = json.loads(call.request.body)
    except ValueError as error:
        raise errors.bad_request(
            "Unable to read JSON request payload.", code="BadRequest"
        ) from error
    if not isinstance(body, dict):
        raise errors.bad_request("Unable to read JSON request payload.", code="BadRequest")
    return body


def _message(call: Call, with_raw: bool = True) -> Message:
    """The message an id names: a REST id or an immutable id (Graph accepts both)."""
    identifier = call.params["id"]
    message = None
    # Two indexed lookups: SQLite would scan the mailbox for an OR of the two columns.
    for column in ("immutable_id", "provider_id"):
        found = Message.objects.filter(mailbox=call.mailbox, **{column: identifier})
        if not with_raw:
            found = found.defer("raw")
        message = next(iter(found[:1]), None)
        if message is not None:
            break
    if message is None:
        raise errors.item_not_found()
    message.mailbox = call.mailbox
    if "folder" in call.params:
        label = representation.label_for_folder(call.mailbox, call.params["folder"])
        if label not in message.labels:
            raise errors.item_not_found()
    return message


def _resource(call: Call, message: Message, select: list[str] | None = None) -> dict:
    message.mailbox = call.mailbox
    return representation.message_resource(
        message, select=select, immutable=call.request.immutable_ids
    )


def _select(call: Call) -> list[str] | None:
    select = representation.parse_select(call.query.get("$select", ""))
    if select and "internetMessageHeaders" in select:
        call.log_format = "headers"
    elif select:
        call.log_format = "select"
    else:
        call.log_format = "full"
    return select


# --- The signed-in user ------------------------------------------------------------------


@route("GET", "me", "graph.me.get")
def me(call: Call) -> GraphResponse:
    mailbox = call.mailbox
    name = mailbox.display_name or mailbox.address.split("@")[0]
    given, _, surname = name.partition(" ")
    return GraphResponse(
        200,
        {
            "@odata.context": f"{call.request.root_url}/$metadata#users/$entity",
            "businessPhones": [],
            "displayName": name,
            "givenName": given,
            "jobTitle": None,
            "mail": mailbox.address,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": mailbox.address,
            "id": object_id(mailbox),
        },
    )


# --- Listing and reading -----------------------------------------------------------------


@route("GET", "me/messages", "graph.messages.list")
@route("GET", "me/mailFolders/{folder}/messages", "graph.messages.list")
def messages_list(call: Call) -> GraphResponse:
    query = call.query
    select = _select(call)
    search = query.get("$search", "")
    if search and (query.get("$orderby") or query.get("$filter")):
        raise errors.unsupported_query(
            "The query parameter '$orderby' or '$filter' is not supported with '$search'."
        )
    messages = Message.objects.filter(mailbox=call.mailbox)
    if "folder" in call.params:
        label = representation.label_for_folder(call.mailbox, call.params["folder"])
        messages = messages.filter(label_ids__contains=f" {label} ")
    if search:
        messages = messages.filter(parse_search(search))
    if query.get("$filter"):
        messages = messages.filter(parse_filter(str(query["$filter"])))
    order = query.get("$orderby", "receivedDateTime desc").strip().lower()
    if order not in ("receiveddatetime desc", "receiveddatetime asc", "receiveddatetime"):
        raise errors.unsupported_query(f"The $orderby expression '{order}' is not supported.")
    ordering = ["-internal_date", "-id"] if order.endswith("desc") else ["internal_date", "id"]
    if not representation.needs_raw(select):
        messages = messages.defer("raw")
    top = min(max(int_param(call, "$top", DEFAULT_TOP), 1), MAX_TOP)
    skip = int_param(call, "$skip", 0)
    rows = list(messages.order_by(*ordering)[skip : skip + top + 1])
    payload: dict = {
        "@odata.context": f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')"
        "/messages",
        "value": [_resource(call, message, select) for message in rows[:top]],
    }
    if len(rows) > top:
        following = query.copy()
        following["$top"], following["$skip"] = str(top), str(skip + top)
        path = call.request.path.split("?", 1)[0]
        payload["@odata.nextLink"] = f"{call.request.root_url}/{path}?{following.urlencode()}"
    return GraphResponse(200, payload)


@route("GET", "me/mailFolders/{folder}/messages/delta", "graph.messages.delta")
@route("GET", "me/mailFolders/{folder}/messages/microsoft.graph.delta()", "graph.messages.delta")
def messages_delta(call: Call) -> GraphResponse:
    return delta.messages_delta(call)


@route("GET", MESSAGE, "graph.messages.get")
@route("GET", FOLDER_MESSAGE, "graph.messages.get")
def messages_get(call: Call) -> GraphResponse:
    select = _select(call)
    message = _message(call, with_raw=representation.needs_raw(select))
    return GraphResponse(200, _resource(call, message, select))


@route("GET", MESSAGE + "/$value", "graph.messages.value")
@route("GET", FOLDER_MESSAGE + "/$value", "graph.messages.value")
def messages_value(call: Call) -> GraphResponse:
    call.log_format = "mime"
    message = _message(call)
    # Graph serves a message's MIME as text/plain.
    return GraphResponse(200, bytes(message.raw), content_type="text/plain")


# --- Drafts, sending and changes ---------------------------------------------------------


@route("POST", "me/messages", "graph.messages.create")
@route("POST", "me/mailFolders/{folder}/messages", "graph.messages.create")
def messages_create(call: Call) -> GraphResponse:
    """A new draft, in Drafts (O365's save_draft posts to mailFolders/Drafts/messages)."""
    if "folder" in call.params:
        label = representation.label_for_folder(call.mailbox, call.params["folder"])
        if label != "DRAFT":
            raise errors.bad_request("The sandbox creates messages in Drafts only.")
    if call.request.content_type.split(";")[0].strip().lower() == "text/plain":
        raw = _mime_body(call)
    else:
        raw = compose.build_raw(call.mailbox, _json_body(call))
    draft = services.message_insert(mailbox=call.mailbox, raw=raw, labels=["DRAFT"])
    return GraphResponse(201, _resource(call, draft))


def _mime_body(call: Call) -> bytes:
    """A draft given as MIME: Graph takes it base64-encoded with Content-Type text/plain,
    and keeps its headers (Message-ID, In-Reply-To, References, x- headers) as written."""
    try:
        raw = base64.b64decode(call.request.body, validate=True)
    except (ValueError, binascii.Error) as error:
        raise errors.bad_request(
            "Invalid base64 string for MIME content.",
            code="ErrorMimeContentInvalidBase64String",
        ) from error
    if b"\n\n" not in raw.replace(b"\r\n", b"\n"):
        raise errors.bad_request("Invalid MIME content.", code="ErrorMimeContentInvalid")
    return raw


@route("POST", MESSAGE + "/createReply", "graph.messages.createReply")
def messages_create_reply(call: Call) -> GraphResponse:
    original = _message(call)
    body = _json_body(call)
    fields, keep = compose.reply_fields(original, call.mailbox, str(body.get("comment") or ""))
    fields.update(body.get("message") or {})
    raw = compose.build_raw(call.mailbox, fields, keep=keep)
    draft = services.message_insert(mailbox=call.mailbox, raw=raw, labels=["DRAFT"])
    return GraphResponse(201, _resource(call, draft))


@route("PATCH", MESSAGE, "graph.messages.patch")
def messages_patch(call: Call) -> GraphResponse:
    body = _json_body(call)
    message = _message(call)
    if "categories" in body and not isinstance(body["categories"], list):
        raise errors.bad_request("Invalid value for property 'categories'.")
    message = services.message_update(
        message=message, categories=body.get("categories"), read=body.get("isRead")
    )
    content_changes = {k: v for k, v in body.items() if k not in ("categories", "isRead")}
    if content_changes:
        if "DRAFT" not in message.labels:
            raise errors.bad_request(
                "Only the categories, isRead and flag of a sent or received message can be "
                "updated.",
                code="ErrorInvalidPropertyUpdateSentMessage",
            )
        raw = compose.patched_draft(message, content_changes)
        message = services.message_rewrite(message=message, raw=raw)
    return GraphResponse(200, _resource(call, message))


@route("POST", MESSAGE + "/send", "graph.messages.send")
def messages_send(call: Call) -> GraphResponse:
    draft = _message(call)
    if "DRAFT" not in draft.labels:
        raise errors.bad_request("Only drafts can be sent.", code="ErrorInvalidOperation")
    services.message_send(mailbox=call.mailbox, raw=bytes(draft.raw), draft=draft)
    return GraphResponse(202, None)


@route("POST", "me/sendMail", "graph.sendMail")
def send_mail(call: Call) -> GraphResponse:
    """JSON (a message resource) or, with Content-Type text/plain, base64 MIME; both need
    only Mail.Send, which is all limited sync asks for."""
    if call.request.content_type.split(";")[0].strip().lower() == "text/plain":
        services.message_send(mailbox=call.mailbox, raw=_mime_body(call))
        return GraphResponse(202, None)
    body = _json_body(call)
    if not isinstance(body.get("message"), dict):
        raise errors.bad_request(
            "Empty Payload. JSON content expected.", code="ErrorInvalidRequest"
        )
    raw = compose.build_raw(call.mailbox, body["message"])
    save = body.get("saveToSentItems", True) not in (False, "false", "False")
    services.message_send(mailbox=call.mailbox, raw=raw, save_copy=save)
    return GraphResponse(202, None)


@route("POST", MESSAGE + "/move", "graph.messages.move")
def messages_move(call: Call) -> GraphResponse:
    destination = str(_json_body(call).get("destinationId") or "")
    if not destination:
        raise errors.bad_request("The destinationId is missing.", code="ErrorInvalidIdMalformed")
    label = representation.label_for_folder(call.mailbox, destination)
    moved = services.message_move(message=_message(call), folder=label)
    return GraphResponse(201, _resource(call, moved))


@route("DELETE", MESSAGE, "graph.messages.delete")
def messages_delete(call: Call) -> GraphResponse:
    """Graph's DELETE moves the message to Deleted Items; there it is removed for good."""
    message = _message(call, with_raw=False)
    if "TRASH" in message.labels:
        services.message_delete(message=message)
    else:
        services.message_move(message=message, folder="TRASH")
    return GraphResponse(204, None)


@route("POST", MESSAGE + "/permanentDelete", "graph.messages.delete")
def messages_permanent_delete(call: Call) -> GraphResponse:
    services.message_delete(message=_message(call, with_raw=False))
    return GraphResponse(204, None)


# --- HTTP entry point --------------------------------------------------------------------


def graph_root(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}{reverse('sandbox:graph-root')}".rstrip("/")


def to_http(response: GraphResponse) -> HttpResponse:
    if response.payload is None:
        http = HttpResponse(status=response.status)
    elif isinstance(response.payload, bytes):
        http = HttpResponse(
            response.payload, status=response.status, content_type=response.content_type
        )
    else:
        return errors.json_response(
            response.payload, response.status, response.headers, content_type=response.content_type
        )
    for name, value in response.headers.items():
        http[name] = value
    return http


@csrf_exempt
def graph_api(request: HttpRequest, rest: str) -> HttpResponse:
    too_large = uploads.refuse_large_request(request)
    if too_large is not None:
        return too_large
    graph_request = GraphRequest(
        method=request.method or "GET",
        path=rest,
        full_path=request.get_full_path(),
        query=request.GET,
        headers={name.lower(): value for name, value in request.headers.items()},
        root_url=graph_root(request),
        body=request_body(request),
    )
    response, entry = process(graph_request)
    entry.request_bytes = len(graph_request.body)
    http = to_http(response)
    if not http.streaming:
        # Its size always; the answer itself only when asked (as Google's face does).
        entry.response_bytes = len(http.content)
        if getattr(settings, "SANDBOX_LOG_RESPONSE_BODIES", False):
            entry.response_body = http.content.decode(errors="replace")
    log_write([entry])
    return http
