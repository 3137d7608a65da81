"""The Gmail API front end: route a call, authenticate its bearer token, apply injected
faults, check scopes, charge quota, run the operation and log it.

Direct HTTP calls and the inner calls of a batch go through the same `process()`, so every
inner call is authorized, charged and logged on its own, as Google does.
"""

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone

from sandbox import quota, services, tokens
from sandbox.google import errors, fields, scopes
from sandbox.google.errors import GmailError
from sandbox.models import AccessToken, Mailbox, Message, Provider, RequestLog

# Gmail's per-method cost in quota units (developers.google.com/gmail/api/reference/quota).
QUOTA_UNITS = {
    "gmail.users.getProfile": 1,
    "gmail.users.history.list": 2,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.create": 5,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.attachments.get": 5,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.batchModify": 50,
    "gmail.users.messages.send": 100,
    "gmail.users.threads.get": 10,
    "gmail.users.threads.list": 10,
    # The People API counts requests per minute rather than units; each is one here,
    # charged to the same per-mailbox window as Gmail's.
    "people.people.searchContacts": 1,
    "people.people.connections.list": 1,
    "people.otherContacts.search": 1,
    "people.otherContacts.list": 1,
}
# Calendar counts requests, not units: 600 per user per minute over a sliding window
# (developers.google.com/workspace/calendar/api/guides/quota), each call costing one.
CALENDAR_REQUESTS_PER_MINUTE = 600


@dataclass
class ApiRequest:
    method: str
    # Path below the Google root, e.g. "gmail/v1/users/me/messages" or "upload/gmail/...".
    path: str
    # The path as the client sent it, for the log.
    full_path: str
    query: QueryDict
    headers: dict[str, str]
    body: bytes = b""
    batch_id: str = ""
    batch: "BatchContext | None" = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class BatchContext:
    """State shared by the inner calls of one batch, so a batch of 100 gets costs a
    handful of queries instead of 200: one token lookup, one message fetch per mailbox."""

    message_ids: set[str] = field(default_factory=set)
    needs_raw: bool = False
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    _messages: dict[int, dict[str, Message]] = field(default_factory=dict)

    def message(self, mailbox: Mailbox, provider_id: str) -> Message:
        if mailbox.pk not in self._messages:
            found = Message.objects.filter(mailbox=mailbox, provider_id__in=self.message_ids)
            if not self.needs_raw:
                found = found.defer("raw")
            self._messages[mailbox.pk] = {m.provider_id: m for m in found}
        message = self._messages[mailbox.pk].get(provider_id)
        if message is None:
            raise services.SandboxError("not_found", "Requested entity was not found.")
        return message


@dataclass
class ApiResponse:
    status: int
    # None for Google's empty answers (204 No Content).
    payload: dict | None
    headers: dict = field(default_factory=dict)

    @cached_property
    def content(self) -> bytes:
        """The bytes that leave the sandbox for this answer (a batch part's JSON too)."""
        return b"" if self.payload is None else json.dumps(self.payload).encode()


@dataclass
class Call:
    """What an operation handler gets: the request, whose mailbox, and path parameters."""

    request: ApiRequest
    mailbox: Mailbox
    scopes: list[str]
    params: dict[str, str]

    @property
    def query(self) -> QueryDict:
        return self.request.query


# A handler's answer; None answers 204 with an empty body (batchModify).
Handler = Callable[[Call], dict | None]


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    operation: str
    handler: Handler
    # Refusals that come before quota is charged (e.g. scope-dependent parameter checks).
    precheck: Callable[[Call], None] | None = None


_routes: list[Route] = []


def route(
    method: str, path: str, operation: str, precheck: Callable[[Call], None] | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler for `path` ({name} segments become parameters)."""
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")

    def register(handler: Handler) -> Handler:
        _routes.append(Route(method, pattern, operation, handler, precheck))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for candidate in _routes:
        found = candidate.pattern.match(path)
        if found and candidate.method == method:
            return candidate, found.groupdict()
    return None


def bearer_token(request: ApiRequest) -> str:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.query.get("access_token", "")


def _authorize(request: ApiRequest, operation: str, user_id: str) -> AccessToken:
    bearer = bearer_token(request)
    cache = request.batch.tokens if request.batch is not None else {}
    access = cache.get(bearer) or tokens.token_authenticate(bearer)
    # A Microsoft mailbox's token means nothing to Google.
    if access is None or access.grant.mailbox.provider != Provider.GOOGLE:
        raise errors.unauthenticated()
    cache[bearer] = access
    mailbox = access.grant.mailbox
    if user_id != "me" and user_id.lower() != mailbox.address:
        raise errors.forbidden(f"Delegation denied for {user_id}")
    return access


def _apply_fault(mailbox: Mailbox) -> None:
    fault = services.fault_consume(mailbox=mailbox)
    if fault is None:
        return
    if fault.delay:
        # Long enough to trip a client timeout; the call then completes normally.
        time.sleep(fault.delay)
    if fault.status:
        raise errors.injected(fault.status, retry_after=fault.retry_after)


def _charge_calendar(mailbox: Mailbox) -> int:
    """One request against the user's Calendar window (the mailbox's quota override, when
    a test sets one, applies to it too); over the limit, Calendar's per-user 403."""
    limit = mailbox.quota_per_minute or int(
        getattr(settings, "SANDBOX_GOOGLE_CALENDAR_PER_MINUTE", CALENDAR_REQUESTS_PER_MINUTE)
    )
    retry_after = quota.charge(("calendar", mailbox.pk), 1, limit)
    if retry_after is not None:
        raise GmailError(
            403,
            "Rate Limit Exceeded",
            "userRateLimitExceeded",
            domain="usageLimits",
            headers={"Retry-After": str(int(retry_after))},
        )
    return 1


def _charge(mailbox: Mailbox, operation: str) -> int:
    if operation.startswith("calendar."):
        return _charge_calendar(mailbox)
    units = QUOTA_UNITS.get(operation, 1)
    retry_after = quota.charge(mailbox.pk, units, quota.limit_for(mailbox.quota_per_minute))
    if retry_after is not None:
        retry_at = timezone.now() + timedelta(seconds=retry_after)
        iso = retry_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{retry_at.microsecond // 1000:03d}Z"
        raise errors.rate_limited(iso, int(retry_after))
    return units


def _log_format(operation: str, query: QueryDict) -> str:
    if operation == "gmail.users.messages.get":
        return query.get("format", "full")
    return query.get("format", "")


def process(request: ApiRequest) -> tuple[ApiResponse, RequestLog]:
    # The handlers register themselves on import; imported here to avoid a cycle.
    from sandbox.google import (  # noqa: F401 (imports register routes)
        calendar_views,
        gmail_views,
        people_views,
    )

    started = time.perf_counter()
    entry = RequestLog(
        provider=Provider.GOOGLE,
        method=request.method,
        path=request.full_path[:2000],
        batch_id=request.batch_id,
    )
    try:
        found = match(request.method, request.path)
        if found is None:
            raise errors.GmailError(404, "Not Found", "notFound")
        chosen, params = found
        entry.operation = chosen.operation
        entry.format = _log_format(chosen.operation, request.query)[:20]
        entry.fields = request.query.get("fields", "")[:2000]
        access = _authorize(request, chosen.operation, params.get("user_id", "me"))
        mailbox = access.grant.mailbox
        entry.mailbox = mailbox
        entry.scopes = access.scopes
        _apply_fault(mailbox)
        if not scopes.allows(access.scope_list, chosen.operation):
            raise errors.insufficient_scopes(scopes.OPERATION_SCOPES[chosen.operation])
        selection = fields.parse(request.query.get("fields", ""), chosen.operation)
        call = Call(request=request, mailbox=mailbox, scopes=access.scope_list, params=params)
        if chosen.precheck is not None:
            chosen.precheck(call)
        entry.units = _charge(mailbox, chosen.operation)
        answer = chosen.handler(call)
        if answer is None:
            response = ApiResponse(204, None)
        else:
            response = ApiResponse(200, fields.select(answer, selection))
    except GmailError as error:
        response = ApiResponse(error.code, error.body(), error.headers)
    except services.SandboxError as error:
        response = _from_sandbox_error(error)
    entry.status = response.status
    _log_answer(entry, response.content)
    entry.duration_ms = (time.perf_counter() - started) * 1000
    return response, entry


def _log_answer(entry: RequestLog, body: bytes) -> None:
    """Its size always; the answer itself only when a test asks (it may hold mail), so
    that a test can prove what never left the sandbox."""
    entry.response_bytes = len(body)
    if getattr(settings, "SANDBOX_LOG_RESPONSE_BODIES", False):
        entry.response_body = body.decode()


def _from_sandbox_error(error: services.SandboxError) -> ApiResponse:
    if error.kind == "not_found":
        mapped = errors.not_found()
    elif error.kind == "conflict":
        mapped = GmailError(409, error.message, "aborted")
    elif error.kind == "gone":
        mapped = GmailError(410, error.message, "deleted")
    else:
        mapped = errors.invalid_argument(error.message)
    return ApiResponse(mapped.code, mapped.body(), mapped.headers)
