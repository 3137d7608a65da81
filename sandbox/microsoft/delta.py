"""`GET /me/mailFolders/{id}/messages/delta`: Graph's per-folder change tracking.

A round starts without a token and lists the folder (newest first) in pages linked by
`@odata.nextLink` ($skiptoken); the last page carries `@odata.deltaLink` ($deltatoken).
The next round, from that link, reports messages that arrived or changed in the folder
and `{"id", "@removed": {"reason": "deleted"}}` for ones deleted or moved out (Graph
reports both as "deleted"). Tokens are opaque to clients and carry the folder, the
mailbox's history watermark and the round's $select and changeType.

The changes come from the shared history (sandbox.models.HistoryEvent). A watermark below
the mailbox's history floor (`sandbox expire-delta`) answers 410 Gone, SyncStateNotFound.
"""

from dataclasses import dataclass
from urllib.parse import quote

from django.db.models import Q

from sandbox import selectors
from sandbox.microsoft import errors, representation
from sandbox.microsoft.api import Call, GraphResponse
from sandbox.microsoft.errors import GraphError
from sandbox.models import HistoryEvent, Message
from sandbox.services import SandboxError

DEFAULT_PAGE, MAX_PAGE = 10, 1000
CHANGE_TYPES = ("created", "updated", "deleted")


@dataclass
class Change:
    key: str
    known_id: str
    immutable_id: str
    created: bool = False
    removed: bool = False


def _token(call: Call, name: str) -> dict | None:
    value = call.query.get(name, "")
    if not value:
        return None
    try:
        return selectors.decode_token(value)
    except SandboxError as error:
        raise GraphError(410, "SyncStateInvalid", "The sync state is invalid.") from error


def _link(call: Call, folder: str, kind: str, payload: dict) -> str:
    token = selectors.encode_token(payload)
    return (
        f"{call.request.root_url}/me/mailFolders('{quote(folder, safe='')}')/messages/delta"
        f"?${kind}={token}"
    )


def _page_size(call: Call) -> int:
    value = call.request.max_page_size or call.query.get("$top", "")
    size = int(value) if str(value).isdigit() else DEFAULT_PAGE
    return min(max(size, 1), MAX_PAGE)


def folder_changes(
    *, mailbox, label: str, since: int, until: int, limit: int | None = None
) -> tuple[list[Change], int]:
    """What happened to the folder's messages between two history ids, one entry per
    message (keyed by its immutable id), in the order they first changed; and the history
    id up to which that covers. With `limit`, stops before the change that would be the
    `limit + 1`th message, so a round is paged by history position rather than recomputed
    for every page (Graph, too, may list a message again in a later page)."""
    changes: dict[str, Change] = {}
    covered = until
    events = (
        HistoryEvent.objects.filter(mailbox=mailbox, history_id__gt=since, history_id__lte=until)
        .order_by("history_id")
        .only(
            "history_id",
            "kind",
            "message_id",
            "immutable_id",
            "message_label_ids",
            "changed_label_ids",
        )
    )
    for event in events.iterator(chunk_size=2000):
        inside = f" {label} " in event.message_label_ids
        changed = event.changed_label_ids.split()
        left = event.kind == HistoryEvent.Kind.LABEL_REMOVED and label in changed
        deleted = event.kind == HistoryEvent.Kind.MESSAGE_DELETED and inside
        if not (inside or left):
            continue
        key = event.immutable_id or event.message_id
        if limit is not None and key not in changes and len(changes) >= limit:
            covered = event.history_id - 1
            break
        change = changes.setdefault(key, Change(key, event.message_id, event.immutable_id))
        if left or deleted:
            change.removed, change.known_id = True, event.message_id
        else:
            change.removed, change.known_id = False, event.message_id
            change.created |= event.kind == HistoryEvent.Kind.MESSAGE_ADDED or (
                event.kind == HistoryEvent.Kind.LABEL_ADDED and label in changed
            )
    return list(changes.values()), covered


def _initial_page(call: Call, label: str, state: dict, size: int) -> tuple[list, dict | None]:
    messages = Message.objects.filter(mailbox=call.mailbox, label_ids__contains=f" {label} ")
    if "d" in state:
        after_date, after_id = int(state["d"]), int(state["i"])
        messages = messages.filter(
            Q(internal_date__lt=after_date) | Q(internal_date=after_date, id__lt=after_id)
        )
    if not representation.needs_raw(state.get("s")):
        messages = messages.defer("raw")
    rows = list(messages.order_by("-internal_date", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    items = [_resource(call, message, state) for message in rows]
    following = {**state, "d": rows[-1].internal_date, "i": rows[-1].pk} if more else None
    return items, following


def _resource(call: Call, message: Message, state: dict) -> dict:
    message.mailbox = call.mailbox
    resource = representation.message_resource(
        message, select=state.get("s"), immutable=call.request.immutable_ids
    )
    return {"@odata.type": "#microsoft.graph.message", **resource}


def _incremental_page(call: Call, label: str, state: dict, size: int) -> tuple[list, dict | None]:
    start = int(state.get("p", state["w"]))
    changes, covered = folder_changes(
        mailbox=call.mailbox, label=label, since=start, until=int(state["W"]), limit=size
    )
    wanted = state.get("ct")
    if wanted == "created":
        changes = [c for c in changes if c.created and not c.removed]
    elif wanted == "updated":
        changes = [c for c in changes if not c.created and not c.removed]
    elif wanted == "deleted":
        changes = [c for c in changes if c.removed]
    window = changes
    current = {
        m.immutable_id: m
        for m in Message.objects.filter(
            mailbox=call.mailbox, immutable_id__in=[c.immutable_id for c in window]
        )
    }
    items = []
    for change in window:
        message = current.get(change.immutable_id)
        if change.removed or message is None or label not in message.labels:
            immutable = call.request.immutable_ids and change.immutable_id
            items.append(representation.removed_resource(immutable or change.known_id))
        else:
            items.append(_resource(call, message, state))
    more = covered < int(state["W"])
    return items, ({**state, "p": covered} if more else None)


def messages_delta(call: Call) -> GraphResponse:
    folder = call.params["folder"]
    label = representation.label_for_folder(call.mailbox, folder)
    call.mailbox.refresh_from_db(fields=["history_id", "history_floor"])
    skip, delta = _token(call, "$skiptoken"), _token(call, "$deltatoken")
    state = skip or delta
    if state is None:
        change_type = call.query.get("changeType", "")
        if change_type and change_type not in CHANGE_TYPES:
            raise errors.bad_request(f"Invalid changeType: {change_type}.")
        state = {
            "f": label,
            "W": call.mailbox.history_id,
            "s": representation.parse_select(call.query.get("$select", "")),
            "ct": change_type,
        }
    elif delta is not None:
        # A new round: changes after the last round's watermark, up to now.
        state = {**delta, "w": delta["W"], "W": call.mailbox.history_id}
        state.pop("p", None)
    if state.get("f") != label:
        raise GraphError(410, "SyncStateInvalid", "The sync state is invalid for this folder.")
    if "w" in state and int(state["w"]) < call.mailbox.history_floor:
        raise GraphError(
            410,
            "SyncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data "
            "must be synchronized again.",
            headers={
                "Location": f"{call.request.root_url}/me/mailFolders('{folder}')/messages/delta"
            },
        )
    call.log_format = "select" if state.get("s") else "full"
    size = _page_size(call)
    page = _incremental_page if "w" in state else _initial_page
    items, following = page(call, label, state, size)
    payload: dict = {"@odata.context": f"{call.request.root_url}/$metadata#Collection(message)"}
    if following is not None:
        payload["@odata.nextLink"] = _link(call, folder, "skiptoken", following)
    else:
        finished = {"f": label, "W": state["W"], "s": state.get("s"), "ct": state.get("ct")}
        payload["@odata.deltaLink"] = _link(call, folder, "deltatoken", finished)
    payload["value"] = items
    return GraphResponse(200, payload)
