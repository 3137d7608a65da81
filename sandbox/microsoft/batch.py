"""Graph JSON batching: `POST /v1.0/$batch` with up to 20 requests, answered 200 with one
response per request (each with its own status, headers and body).

Every inner request goes through `api.process` on its own: authorized with the outer
Authorization header, throttled, fault-injectable and logged, sharing a batch id.
Requests run in the order given, so `dependsOn` holds; a request whose dependency failed
answers 424. Bodies that are not JSON (a message's $value) come back base64-encoded.
"""

import base64
import json
import uuid
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sandbox.http import request_body
from sandbox.microsoft import errors, uploads
from sandbox.microsoft.api import GraphRequest, GraphResponse, process
from sandbox.microsoft.errors import GraphError
from sandbox.microsoft.graph_views import graph_root
from sandbox.models import Provider, RequestLog
from sandbox.requestlog import log_write

MAX_REQUESTS = 20


def _requests(request: HttpRequest) -> list[dict]:
    try:
        payload = json.loads(request_body(request) or b"{}")
    except ValueError as error:
        raise errors.bad_request("Invalid batch payload format.", code="BadRequest") from error
    items = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise errors.bad_request("Invalid batch payload format.", code="BadRequest")
    if len(items) > MAX_REQUESTS:
        raise errors.bad_request(
            "Number of requests inside batch exceeds the limit.", code="BadRequest"
        )
    ids = [str(item.get("id", "")) for item in items]
    if "" in ids or len(set(ids)) != len(ids):
        raise errors.bad_request("Batch request ids must be present and unique.", code="BadRequest")
    return items


def _inner(item: dict, outer: HttpRequest, root: str, batch_id: str) -> GraphRequest:
    url = str(item.get("url", ""))
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme:
        # Graph expects relative URLs; an absolute one is read below the v1.0 root.
        path = path.split("/v1.0/", 1)[-1]
    headers = {"authorization": outer.headers.get("Authorization", "")}
    headers.update({str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()})
    body = item.get("body")
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    return GraphRequest(
        method=str(item.get("method", "GET")).upper(),
        path=path.lstrip("/"),
        full_path=url,
        query=QueryDict(parts.query),
        headers=headers,
        root_url=root,
        body=body or b"",
        batch_id=batch_id,
    )


def _part(item_id: str, response: GraphResponse) -> dict:
    headers = dict(response.headers)
    part: dict = {"id": item_id, "status": response.status}
    if isinstance(response.payload, bytes):
        headers["Content-Type"] = response.content_type
        part["body"] = base64.b64encode(response.payload).decode()
    elif response.payload is not None:
        headers["Content-Type"] = response.content_type
        part["body"] = response.payload
    part["headers"] = headers
    return part


def _failed_dependency(item_id: str) -> dict:
    error = GraphError(424, "FailedDependency", "A dependency of this request failed.")
    return {"id": item_id, "status": 424, "headers": {}, "body": error.body(str(uuid.uuid4()))}


@csrf_exempt
@require_POST
def batch(request: HttpRequest) -> HttpResponse:
    too_large = uploads.refuse_large_request(request)
    if too_large is not None:
        return too_large
    batch_id = uuid.uuid4().hex
    outer = RequestLog(
        provider=Provider.MICROSOFT,
        method="POST",
        path=request.get_full_path()[:2000],
        operation="graph.batch",
        batch_id=batch_id,
    )
    try:
        items = _requests(request)
    except GraphError as error:
        outer.status = error.status
        log_write([outer])
        return errors.json_response(error.body(str(uuid.uuid4())), error.status)
    root = graph_root(request)
    statuses: dict[str, int] = {}
    entries, parts = [outer], []
    for item in items:
        item_id = str(item["id"])
        depends = item.get("dependsOn") or []
        if any(statuses.get(str(other), 200) >= 400 for other in depends):
            parts.append(_failed_dependency(item_id))
            statuses[item_id] = 424
            continue
        response, entry = process(_inner(item, request, root, batch_id))
        entries.append(entry)
        statuses[item_id] = response.status
        parts.append(_part(item_id, response))
    outer.status = 200
    log_write(entries)
    return errors.json_response({"responses": parts})
