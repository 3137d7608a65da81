"""Google's batch wire format (multipart/mixed of application/http parts) and the plain
multipart splitting that media uploads share with it.

Bodies are split at the byte level rather than with the `email` package, which would
re-encode an uploaded message/rfc822 part instead of handing back its exact bytes.
"""

import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from sandbox.google import errors
from sandbox.google.api import ApiRequest, ApiResponse, BatchContext, process
from sandbox.mime import split_head
from sandbox.models import Provider, RequestLog
from sandbox.requestlog import log_write

MAX_PARTS = 100
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


@dataclass
class Part:
    headers: dict[str, str]
    body: bytes


def _split_head(chunk: bytes) -> tuple[bytes, bytes]:
    head, _, body = split_head(chunk)
    return head, body


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for line in block.decode("utf-8", errors="replace").splitlines():
        # A folded header (RFC 5322 §2.2.3) continues on lines starting with white space:
        # googleapiclient folds a long Content-ID such as "<uuid + a-calendar-event-id>".
        if line[:1] in (" ", "\t") and last:
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            last = name.strip().lower()
            headers[last] = value.strip()
    return headers


def split_multipart(body: bytes, content_type: str) -> list[Part]:
    found = _BOUNDARY.search(content_type)
    if not found:
        raise errors.invalid_argument("Missing multipart boundary")
    delimiter = b"--" + found.group(1).encode()
    parts: list[Part] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        # Drop the line break after the delimiter and the one before the next delimiter.
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.removeprefix(b"\n")
        chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk.removesuffix(b"\n")
        head, content = _split_head(chunk)
        parts.append(Part(_headers(head), content))
    return parts


_GET_MESSAGE = re.compile(r"gmail/v1/users/[^/]+/messages/([^/]+)$")


def _inner_request(
    part: Part, outer: HttpRequest, root: str, batch_id: str, context: BatchContext
) -> ApiRequest:
    head, body = _split_head(part.body)
    lines = head.decode("utf-8", errors="replace").splitlines()
    request_line = lines[0].split() if lines else []
    if len(request_line) < 2:
        raise errors.invalid_argument("Malformed batch part")
    method, target = request_line[0].upper(), request_line[1]
    url = urlsplit(target)
    path = url.path
    for prefix in (root, "/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    # Outer headers apply to every part unless the part sets its own (Google's rule).
    headers = {
        name.lower(): value
        for name, value in outer.headers.items()
        if not name.lower().startswith("content-")
    }
    headers.update(_headers(b"\n".join(line.encode() for line in lines[1:])))
    return ApiRequest(
        method=method,
        path=path,
        full_path=target,
        query=QueryDict(url.query),
        headers=headers,
        body=body,
        batch_id=batch_id,
        batch=context,
    )


def _plan_prefetch(requests: list[ApiRequest], context: BatchContext) -> None:
    """Note every message the batch will get, and whether any call needs its raw bytes."""
    for request in requests:
        found = _GET_MESSAGE.match(request.path)
        if request.method == "GET" and found:
            context.message_ids.add(found.group(1))
            if request.query.get("format", "full").lower() in ("full", "raw"):
                context.needs_raw = True


def _http_part(content_id: str, response: ApiResponse) -> bytes:
    reason = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    if response.payload is not None:
        lines.append(f"Content-Type: {errors.JSON_TYPE}")
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    # Every part has a header line, so an empty answer (204) still has its blank line.
    lines.append(f"Content-Length: {len(response.content)}")
    head = "Content-Type: application/http\r\n"
    if content_id:
        head += f"Content-ID: {_response_id(content_id)}\r\n"
    inner = "\r\n".join(lines) + "\r\n\r\n"
    return (head + "\r\n" + inner).encode() + response.content + b"\r\n"


def _response_id(content_id: str) -> str:
    inner = content_id.strip().removeprefix("<").removesuffix(">")
    return f"<response-{inner}>"


@csrf_exempt
def batch(request: HttpRequest, max_parts: int = MAX_PARTS) -> HttpResponse:
    batch_id = uuid.uuid4().hex
    outer = RequestLog(
        provider=Provider.GOOGLE,
        method=request.method or "POST",
        path=request.get_full_path()[:2000],
        operation="batch",
        batch_id=batch_id,
    )
    try:
        if request.method != "POST":
            raise errors.GmailError(405, "Method Not Allowed", "httpMethodNotAllowed")
        parts = split_multipart(request.body, request.headers.get("Content-Type", ""))
        if not parts:
            raise errors.invalid_argument("Batch request has no parts")
        if len(parts) > max_parts:
            raise errors.invalid_argument(
                f"Too many requests in batch ({len(parts)}); the limit is {max_parts}."
            )
    except errors.GmailError as error:
        outer.status = error.code
        log_write([outer])
        return errors.json_response(error.body(), error.code, error.headers)

    root = reverse("sandbox:google-root")
    boundary = f"batch_{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    entries = [outer]
    context = BatchContext()
    inner: list[ApiRequest | errors.GmailError] = []
    for part in parts:
        try:
            inner.append(_inner_request(part, request, root, batch_id, context))
        except errors.GmailError as error:
            inner.append(error)
    _plan_prefetch([call for call in inner if isinstance(call, ApiRequest)], context)
    for part, call in zip(parts, inner, strict=True):
        if isinstance(call, errors.GmailError):
            response = ApiResponse(call.code, call.body(), call.headers)
        else:
            response, entry = process(call)
            entries.append(entry)
        content_id = part.headers.get("content-id", "")
        chunks.append(f"--{boundary}\r\n".encode() + _http_part(content_id, response))
    outer.status = 200
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    # The multipart itself: its parts' answers are each logged with their own call.
    outer.response_bytes = len(body)
    log_write(entries)
    return HttpResponse(body, content_type=f"multipart/mixed; boundary={boundary}")
