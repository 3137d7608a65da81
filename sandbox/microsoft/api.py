"""The Microsoft Graph front end: route a call, authenticate its bearer token, hold a
concurrency slot, apply injected faults, check permissions, count it against the
ten-minute limit, run the operation and log it.

Direct calls and the inner calls of a JSON batch go through the same `process()`, so each
inner call is authorized, throttled, faulted and logged on its own, as Graph does.
"""

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import QueryDict

from sandbox import services, tokens
from sandbox.microsoft import errors, scopes, throttle
from sandbox.microsoft.errors import GraphError
from sandbox.microsoft.identity import object_id
from sandbox.models import Mailbox, Provider, RequestLog

IMMUTABLE_ID = re.compile(r'idtype\s*=\s*"?immutableid"?', re.IGNORECASE)
MAX_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
# OData key syntax, mailFolders('inbox') → mailFolders/inbox.
_KEY_SEGMENT = re.compile(r"\('([^']*)'\)")


@dataclass
class GraphRequest:
    method: str
    # Path below /v1.0/, e.g. "me/messages/AAMkA...".
    path: str
    # The path as the client sent it, for the log.
    full_path: str
    query: QueryDict
    headers: dict[str, str]
    # Absolute URL of the v1.0 root on this server, for nextLink and deltaLink.
    root_url: str
    body: bytes = b""
    batch_id: str = ""

    @property
    def prefer(self) -> str:
        return self.headers.get("prefer", "")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def immutable_ids(self) -> bool:
        return bool(IMMUTABLE_ID.search(self.prefer))

    @property
    def max_page_size(self) -> int | None:
        found = MAX_PAGE_SIZE.search(self.prefer)
        return int(found.group(1)) if found else None


@dataclass
class GraphResponse:
    status: int
    payload: dict | bytes | None
    headers: dict = field(default_factory=dict)
    content_type: str = errors.GRAPH_JSON


@dataclass
class Call:
    """What an operation handler gets: the request, whose mailbox, and path parameters."""

    request: GraphRequest
    mailbox: Mailbox
    params: dict[str, str]
    # The log entry's format column ("headers", "mime", "select", …), set by handlers.
    log_format: str = ""

    @property
    def query(self) -> QueryDict:
        return self.request.query


Handler = Callable[[Call], GraphResponse]


def int_param(call: Call, name: str, default: int) -> int:
    """A non-negative integer query parameter ($top, $skip), or Graph's 400."""
    value = call.query.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise errors.bad_request(f"Invalid value '{value}' for query parameter {name}.")
    return int(value)


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    operation: str
    handler: Handler


_routes: list[Route] = []


def route(method: str, path: str, operation: str) -> Callable[[Handler], Handler]:
    """Register a handler for `path` below /v1.0/ ({name} segments become parameters).
    Graph's path segments are case-insensitive; ids are not."""
    literal = re.escape(path)
    pattern = re.compile(
        "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", literal) + "/?$", re.IGNORECASE
    )

    def register(handler: Handler) -> Handler:
        _routes.append(Route(method, pattern, operation, handler))
        return handler

    return register


def normalize_path(path: str) -> tuple[str, str]:
    """(path with /me/ for /users/{id}/, the user named or "me")."""
    path = _KEY_SEGMENT.sub(r"/\1", path.strip("/"))
    found = re.match(r"^users/([^/]+)(/.*)?$", path, re.IGNORECASE)
    if found:
        return "me" + (found.group(2) or ""), found.group(1)
    return path, "me"


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    allowed = False
    for candidate in _routes:
        found = candidate.pattern.match(path)
        if found:
            if candidate.method == method:
                return candidate, found.groupdict()
            allowed = True
    if allowed:
        raise GraphError(405, "Request_BadRequest", f"Method {method} is not allowed here.")
    return None


def _authorize(request: GraphRequest, user: str) -> tuple[Mailbox, str]:
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not bearer:
        raise errors.unauthenticated("Access token is empty.")
    access = tokens.token_authenticate(bearer)
    # A Google mailbox's token means nothing to Microsoft.
    if access is None or access.grant.mailbox.provider != Provider.MICROSOFT:
        raise errors.unauthenticated(
            "Lifetime validation failed, the token is expired."
            if access is None
            else "IDX14100: JWT is not well formed."
        )
    mailbox = access.grant.mailbox
    if user != "me" and user.lower() not in (mailbox.address, object_id(mailbox)):
        raise errors.access_denied()
    return mailbox, access.scopes


def _apply_fault(mailbox: Mailbox) -> None:
    fault = services.fault_consume(mailbox=mailbox)
    if fault is None:
        return
    if fault.delay:
        # Long enough to trip a client timeout; the call then completes normally.
        time.sleep(fault.delay)
    if fault.status:
        raise errors.injected(fault.status, retry_after=fault.retry_after)


def _from_sandbox_error(error: services.SandboxError) -> GraphError:
    if error.kind == "not_found":
        return errors.item_not_found()
    if error.kind == "conflict":
        return GraphError(409, "ErrorFolderExists", error.message)
    return errors.bad_request(error.message)


def process(request: GraphRequest) -> tuple[GraphResponse, RequestLog]:
    # The handlers register themselves on import; imported here to avoid a cycle.
    from sandbox.microsoft import (  # noqa: F401 (import registers the routes)
        calendar_views,
        graph_views,
    )

    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    entry = RequestLog(
        provider=Provider.MICROSOFT,
        method=request.method,
        path=request.full_path[:2000],
        batch_id=request.batch_id,
        prefer=request.prefer[:300],
    )
    try:
        path, user = normalize_path(request.path)
        found = match(request.method, path)
        if found is None:
            raise GraphError(
                400,
                "BadRequest",
                f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.",
            )
        chosen, params = found
        entry.operation = chosen.operation
        mailbox, granted = _authorize(request, user)
        entry.mailbox, entry.scopes = mailbox, granted
        with throttle.concurrency_slot(mailbox):
            _apply_fault(mailbox)
            if not scopes.allows(granted.split(), chosen.operation):
                raise errors.access_denied()
            throttle.charge(mailbox)
            call = Call(request=request, mailbox=mailbox, params=params)
            try:
                response = chosen.handler(call)
            finally:
                entry.format = call.log_format[:20]
    except GraphError as error:
        response = GraphResponse(
            error.status, error.body(request_id, _client_id(request)), error.headers
        )
    except services.SandboxError as error:
        mapped = _from_sandbox_error(error)
        response = GraphResponse(mapped.status, mapped.body(request_id, _client_id(request)))
    response.headers.setdefault("request-id", request_id)
    response.headers.setdefault("client-request-id", _client_id(request) or request_id)
    if request.immutable_ids:
        response.headers["Preference-Applied"] = 'IdType="ImmutableId"'
    entry.status = response.status
    entry.duration_ms = (time.perf_counter() - started) * 1000
    return response, entry


def _client_id(request: GraphRequest) -> str:
    return request.headers.get("client-request-id", "")
