"""Graph mail folders (well-known and user folders, with child folders) and the Outlook
master category list, registered with `api.route`."""

import json
import re

from django.db.models import Count, Q

from sandbox import services
from sandbox.microsoft import errors, representation
from sandbox.microsoft.api import Call, GraphResponse, route
from sandbox.microsoft.errors import GraphError
from sandbox.models import Category, Label, Message

FOLDER = "me/mailFolders/{folder}"


def _json_body(call: Call) -> dict:
    try:
        body = json.loads(call.request.body or b"{}")
    except ValueError as error:
        raise errors.bad_request(
            "Unable to read JSON request payload.", code="BadRequest"
        ) from error
    if not isinstance(body, dict):
        raise errors.bad_request("Unable to read JSON request payload.", code="BadRequest")
    return body


def _folders(call: Call, parent: str) -> list[Label]:
    labels = Label.objects.filter(mailbox=call.mailbox).exclude(
        provider_id__in=services.MICROSOFT_FLAGS
    )
    if parent == representation.ROOT:
        labels = labels.exclude(options__has_key="parent")
    else:
        labels = labels.filter(options__parent=parent)
    return sorted(labels, key=lambda label: label.name.lower())


def _resources(call: Call, labels: list[Label]) -> list[dict]:
    """Folder JSON with item counts, two queries for the whole list."""
    ids = [label.provider_id for label in labels]
    counts: dict[str, tuple[int, int]] = {}
    messages = Message.objects.filter(mailbox=call.mailbox)
    for label_id in ids:
        found = messages.filter(label_ids__contains=f" {label_id} ").aggregate(
            total=Count("id"), unread=Count("id", filter=Q(label_ids__contains=" UNREAD "))
        )
        counts[label_id] = (found["total"], found["unread"])
    children = dict(
        Label.objects.filter(mailbox=call.mailbox, options__has_key="parent")
        .values_list("options__parent")
        .annotate(n=Count("id"))
    )
    return [
        representation.folder_resource(
            call.mailbox, label, counts, children.get(label.provider_id, 0)
        )
        for label in labels
    ]


def _collection(call: Call, labels: list[Label]) -> GraphResponse:
    context = f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')/mailFolders"
    return GraphResponse(200, {"@odata.context": context, "value": _resources(call, labels)})


def _label(call: Call) -> str:
    label_id = representation.label_for_folder(call.mailbox, call.params["folder"])
    if (
        label_id != representation.ROOT
        and not Label.objects.filter(mailbox=call.mailbox, provider_id=label_id).exists()
    ):
        raise errors.item_not_found()
    return label_id


_NAME_FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)


def _filtered(call: Call, labels: list[Label]) -> list[Label]:
    """`$filter=displayName eq '…'`, how O365 looks a folder up by name."""
    text = call.query.get("$filter", "")
    if not text:
        return labels
    found = _NAME_FILTER.match(text)
    if found is None:
        raise errors.bad_request(f"Invalid filter clause: {text}.")
    name = found.group(1).replace("''", "'").lower()
    return [label for label in labels if label.name.lower() == name]


@route("GET", "me/mailFolders", "graph.mailFolders.list")
def folders_list(call: Call) -> GraphResponse:
    return _collection(call, _filtered(call, _folders(call, representation.ROOT)))


@route("GET", FOLDER + "/childFolders", "graph.mailFolders.list")
def child_folders_list(call: Call) -> GraphResponse:
    return _collection(call, _filtered(call, _folders(call, _label(call))))


@route("GET", FOLDER, "graph.mailFolders.get")
def folders_get(call: Call) -> GraphResponse:
    label_id = _label(call)
    label = Label.objects.filter(mailbox=call.mailbox, provider_id=label_id).first()
    if label is None:
        raise errors.item_not_found()
    return GraphResponse(200, _resources(call, [label])[0])


def _create(call: Call, parent: str) -> GraphResponse:
    name = str(_json_body(call).get("displayName") or "")
    try:
        label = services.folder_create(mailbox=call.mailbox, name=name, parent=parent)
    except services.SandboxError as error:
        if error.kind == "conflict":
            raise GraphError(409, "ErrorFolderExists", error.message) from error
        raise
    return GraphResponse(201, _resources(call, [label])[0])


@route("POST", "me/mailFolders", "graph.mailFolders.create")
def folders_create(call: Call) -> GraphResponse:
    return _create(call, "")


@route("POST", FOLDER + "/childFolders", "graph.mailFolders.create")
def child_folders_create(call: Call) -> GraphResponse:
    parent = _label(call)
    return _create(call, "" if parent == representation.ROOT else parent)


# --- Master categories -------------------------------------------------------------------


def _category(category: Category) -> dict:
    return {"id": category.category_id, "displayName": category.name, "color": category.color}


@route("GET", "me/outlook/masterCategories", "graph.masterCategories.list")
def categories_list(call: Call) -> GraphResponse:
    context = (
        f"{call.request.root_url}/$metadata#users('{call.mailbox.address}')/outlook/"
        "masterCategories"
    )
    found = Category.objects.filter(mailbox=call.mailbox)
    return GraphResponse(200, {"@odata.context": context, "value": [_category(c) for c in found]})


@route("POST", "me/outlook/masterCategories", "graph.masterCategories.create")
def categories_create(call: Call) -> GraphResponse:
    body = _json_body(call)
    try:
        category = services.category_create(
            mailbox=call.mailbox,
            name=str(body.get("displayName") or ""),
            color=str(body.get("color") or "none"),
        )
    except services.SandboxError as error:
        if error.kind == "conflict":
            raise GraphError(409, "ErrorDuplicateCategory", error.message) from error
        raise
    return GraphResponse(201, _category(category))
