"""Attachments on Graph drafts, as Microsoft documents them: a file under 3 MB is one POST
to the message's attachments; a larger one (up to 150 MB) goes through an upload session
(`attachment: createUploadSession`), whose uploadUrl takes PUTs of byte ranges of at most
4 MB each, authorised by the token in the URL and never by an Authorization header. The
last range answers 201 with the attachment's URL in Location; the file is then on the draft.

Every Graph request is at most 4 MB (`MAX_REQUEST_BYTES`): larger ones are answered 413.
"""

import base64
import binascii
import email
import email.policy
import secrets
import time
from datetime import timedelta
from email.message import EmailMessage

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox import services, tokens
from sandbox.http import request_body
from sandbox.microsoft import errors
from sandbox.microsoft.api import Call, GraphResponse, route
from sandbox.microsoft.errors import GraphError
from sandbox.microsoft.identity import object_id
from sandbox.models import Message, Provider, RequestLog, UploadSession
from sandbox.requestlog import log_write

MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_SESSION_BYTES = 150 * 1024 * 1024
# Exchange Online's default message size limit (the whole message, encoded).
MAX_MESSAGE_BYTES = 35 * 1024 * 1024
UPLOAD_SESSION_LIFETIME = timedelta(minutes=15)
ATTACHMENTS = "me/messages/{id}/attachments"


def request_too_large() -> GraphError:
    return GraphError(
        413,
        "RequestEntityTooLarge",
        f"The request body is larger than the {MAX_REQUEST_BYTES} bytes Microsoft Graph "
        "accepts; attach files over 3 MB through an upload session.",
    )


def _draft(call: Call) -> Message:
    from sandbox.microsoft.graph_views import _message

    message = _message(call)
    if "DRAFT" not in message.labels:
        raise errors.bad_request(
            "Attachments can be added to drafts only.", code="ErrorInvalidOperation"
        )
    return message


def _json(call: Call) -> dict:
    from sandbox.microsoft.graph_views import _json_body

    return _json_body(call)


def _attach(
    message: Message,
    *,
    name: str,
    content_type: str,
    data: bytes,
    is_inline: bool = False,
    content_id: str = "",
) -> str:
    """Add a file to the draft's MIME; returns the new attachment's id."""
    mime = email.message_from_bytes(bytes(message.raw), policy=email.policy.default)
    assert isinstance(mime, EmailMessage)
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    mime.add_attachment(
        data,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        filename=name or "attachment",
        disposition="inline" if is_inline else "attachment",
        cid=f"<{content_id}>" if content_id else None,
    )
    raw = mime.as_bytes(policy=email.policy.SMTP)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise errors.bad_request(
            "The message exceeds the maximum supported size.", code="ErrorMessageSizeExceeded"
        )
    services.message_rewrite(message=message, raw=raw)
    return "AAMkAttach" + secrets.token_urlsafe(18)


@route("POST", ATTACHMENTS, "graph.attachments.create")
def attachments_create(call: Call) -> GraphResponse:
    """A fileAttachment under 3 MB, its bytes in base64 contentBytes."""
    body = _json(call)
    if body.get("@odata.type", "").lower() != "#microsoft.graph.fileattachment":
        raise errors.bad_request("The sandbox accepts fileAttachment only.")
    try:
        data = base64.b64decode(str(body.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError) as error:
        raise errors.bad_request("Invalid base64 in contentBytes.") from error
    name = str(body.get("name") or "")
    content_type = str(body.get("contentType") or "application/octet-stream")
    attachment_id = _attach(
        _draft(call),
        name=name,
        content_type=content_type,
        data=data,
        is_inline=bool(body.get("isInline")),
        content_id=str(body.get("contentId") or ""),
    )
    return GraphResponse(
        201,
        {
            "@odata.context": f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')"
            f"/messages('{call.params['id']}')/attachments/$entity",
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": attachment_id,
            "lastModifiedDateTime": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "name": name,
            "contentType": content_type,
            "size": len(data),
            "isInline": bool(body.get("isInline")),
            "contentId": body.get("contentId"),
            "contentLocation": None,
            "contentBytes": body.get("contentBytes"),
        },
    )


@route("POST", ATTACHMENTS + "/createUploadSession", "graph.attachments.createUploadSession")
def attachments_create_upload_session(call: Call) -> GraphResponse:
    item = _json(call).get("AttachmentItem")
    if not isinstance(item, dict) or str(item.get("attachmentType", "")).lower() != "file":
        raise errors.bad_request("AttachmentItem with attachmentType 'file' is required.")
    size = item.get("size")
    if not isinstance(size, int) or size <= 0:
        raise errors.bad_request("The attachment size must be given, in bytes.")
    if size > MAX_UPLOAD_SESSION_BYTES:
        raise errors.bad_request(
            "The attachment size exceeds the maximum of 150 MB.",
            code="ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
        )
    draft = _draft(call)
    session = UploadSession.objects.create(
        message=draft,
        token=secrets.token_urlsafe(32),
        name=str(item.get("name") or "attachment")[:255],
        content_type=str(item.get("contentType") or "application/octet-stream")[:255],
        size=size,
        is_inline=bool(item.get("isInline")),
        content_id=str(item.get("contentId") or "")[:255],
        expires_at=timezone.now() + UPLOAD_SESSION_LIFETIME,
    )
    return GraphResponse(
        201,
        {
            "@odata.context": f"{call.request.root_url}/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": _upload_url(call, session),
            "expirationDateTime": _iso(session),
            "nextExpectedRanges": ["0-"],
        },
    )


def _outlook_root(call: Call) -> str:
    graph = reverse("sandbox:graph-root")
    outlook = reverse("sandbox:outlook-api", args=["x"])[:-1]
    return call.request.root_url[: -len(graph.rstrip("/"))] + outlook.rstrip("/")


def _upload_url(call: Call, session: UploadSession) -> str:
    return (
        f"{_outlook_root(call)}/Users('{object_id(call.mailbox)}')"
        f"/Messages('{call.params['id']}')/AttachmentSessions('{session.pk}')"
        f"?authtoken={session.token}"
    )


def _iso(session: UploadSession) -> str:
    return session.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _content_range(header: str) -> tuple[int, int, int] | None:
    """`bytes start-end/total` as three integers, or None."""
    unit, _, spec = header.strip().partition(" ")
    span, _, total = spec.partition("/")
    start, _, end = span.partition("-")
    if unit != "bytes" or not (start.isdigit() and end.isdigit() and total.isdigit()):
        return None
    return int(start), int(end), int(total)


def _put(request: HttpRequest, session: UploadSession | None) -> tuple[int, dict | None, dict]:
    """(status, JSON body, headers) for one PUT of a byte range."""
    if session is None or session.expires_at < timezone.now():
        raise errors.item_not_found()
    if request.headers.get("Authorization"):
        # The uploadUrl is pre-authenticated; Outlook refuses a bearer token beside it.
        raise errors.unauthenticated("An Authorization header is not accepted on an upload URL.")
    body = request_body(request)
    if len(body) > MAX_REQUEST_BYTES:
        raise request_too_large()
    span = _content_range(request.headers.get("Content-Range", ""))
    received = len(session.received)
    if span is None or span[1] - span[0] + 1 != len(body) or span[2] != session.size:
        raise errors.bad_request(
            "The Content-Range header is missing or does not match the body and the "
            "session's size.",
            code="ErrorInvalidContentRange",
        )
    if span[0] != received:
        raise GraphError(
            416,
            "ErrorInvalidRange",
            f"The uploaded range does not start where expected: {received}.",
        )
    session.received = bytes(session.received) + body
    session.expires_at = timezone.now() + UPLOAD_SESSION_LIFETIME
    if len(session.received) < session.size:
        session.save(update_fields=["received", "expires_at"])
        return (
            200,
            {
                "expirationDateTime": _iso(session),
                "nextExpectedRanges": [str(len(session.received))],
            },
            {},
        )
    message = session.message
    with transaction.atomic():
        attachment_id = _attach(
            message,
            name=session.name,
            content_type=session.content_type,
            data=bytes(session.received),
            is_inline=session.is_inline,
            content_id=session.content_id,
        )
        session.delete()
    location = request.build_absolute_uri(request.path).split("/AttachmentSessions(")[0]
    return 201, None, {"Location": f"{location}/Attachments('{attachment_id}')"}


@csrf_exempt
def attachment_session_put(request: HttpRequest, rest: str) -> HttpResponse:
    """PUT {uploadUrl}: the next byte range of an upload session's file; DELETE: cancel."""
    started = time.perf_counter()
    session = (
        UploadSession.objects.select_related("message__mailbox")
        .filter(token=request.GET.get("authtoken", ""))
        .first()
    )
    if session is not None and f"AttachmentSessions('{session.pk}')" not in rest:
        session = None
    request_id = secrets.token_hex(16)
    headers: dict[str, str]
    try:
        if request.method == "DELETE":
            # "Optional: delete the upload session": the bytes so far are dropped.
            if session is None:
                raise errors.item_not_found()
            session.delete()
            status, payload, headers = 204, None, {}
        elif request.method == "PUT":
            status, payload, headers = _put(request, session)
        else:
            raise GraphError(405, "Request_BadRequest", "Upload URLs accept PUT and DELETE.")
    except GraphError as error:
        status, payload, headers = error.status, error.body(request_id), error.headers
    log_write(
        [
            RequestLog(
                provider=Provider.MICROSOFT,
                mailbox=session.message.mailbox if session else None,
                method=request.method or "PUT",
                path=request.get_full_path().split("?", 1)[0][:2000],
                operation="outlook.attachmentSessions.put",
                status=status,
                request_bytes=len(request_body(request)),
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        ]
    )
    if payload is None:
        response = HttpResponse(status=status)
    else:
        response = errors.json_response(payload, status)
    for name, value in headers.items():
        response[name] = value
    response["request-id"] = request_id
    return response


def refuse_large_request(request: HttpRequest) -> HttpResponse | None:
    """Graph's 4 MB limit on any request, answered before the request is processed."""
    if len(request_body(request)) <= MAX_REQUEST_BYTES:
        return None
    request_id = secrets.token_hex(16)
    error = request_too_large()
    header = request.headers.get("Authorization", "")
    access = (
        tokens.token_authenticate(header[7:].strip()) if header[:7].lower() == "bearer " else None
    )
    log_write(
        [
            RequestLog(
                provider=Provider.MICROSOFT,
                mailbox=access.grant.mailbox if access else None,
                method=request.method or "",
                path=request.get_full_path()[:2000],
                status=413,
                request_bytes=len(request_body(request)),
            )
        ]
    )
    return errors.json_response(error.body(request_id), 413, {"request-id": request_id})
