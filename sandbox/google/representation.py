"""Stored rows → Gmail API JSON (Message, MessagePart, Label, History), checked against the
schemas of Google's Gmail discovery document. Empty lists are left out, as Gmail does."""

import base64
import email
import email.policy
from email.message import Message as MimeMessage

from sandbox.models import HistoryEvent, Label, Message
from sandbox.services import SandboxError

FORMATS = ("minimal", "full", "raw", "metadata")
_ATTACHMENT_PREFIX = "ANGjdJ_"


def b64url(data: bytes) -> str:
    # Gmail's base64url keeps its "=" padding, which urlsafe_b64decode needs.
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    text = text.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def message_resource(
    message: Message, fmt: str = "full", metadata_headers: list[str] | None = None
) -> dict:
    resource: dict = {"id": message.provider_id, "threadId": message.thread_id}
    if message.labels:
        resource["labelIds"] = message.labels
    resource["snippet"] = message.snippet
    resource["sizeEstimate"] = message.size
    resource["historyId"] = str(message.history_id)
    resource["internalDate"] = str(message.internal_date)
    if fmt == "raw":
        resource["raw"] = b64url(bytes(message.raw))
    elif fmt == "metadata":
        resource["payload"] = _metadata_payload(message, metadata_headers or [])
    elif fmt == "full":
        parsed = email.message_from_bytes(bytes(message.raw), policy=email.policy.default)
        resource["payload"] = _part(parsed, "")
    return resource


def _metadata_payload(message: Message, wanted: list[str]) -> dict:
    # Built from headers stored at insert time: no MIME parsing per call.
    headers = [{"name": name, "value": value} for name, value in message.headers]
    if wanted:
        names = {name.lower() for name in wanted}
        headers = [h for h in headers if h["name"].lower() in names]
    content_type = next(
        (value for name, value in message.headers if name.lower() == "content-type"),
        "text/plain",
    )
    return {
        "partId": "",
        "mimeType": content_type.split(";", 1)[0].strip().lower(),
        "filename": "",
        "headers": headers,
    }


def _part(part: MimeMessage, part_id: str) -> dict:
    resource: dict = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": [{"name": name, "value": str(value)} for name, value in part.items()],
    }
    if part.is_multipart():
        resource["body"] = {"size": 0}
        prefix = f"{part_id}." if part_id else ""
        resource["parts"] = [
            _part(child, f"{prefix}{index}") for index, child in enumerate(part.get_payload())
        ]
        return resource
    data = _decoded_body(part)
    if part.get_filename() or part.get_content_disposition() == "attachment":
        resource["body"] = {"attachmentId": attachment_id(part_id), "size": len(data)}
    elif data:
        resource["body"] = {"size": len(data), "data": b64url(data)}
    else:
        resource["body"] = {"size": 0}
    return resource


def _decoded_body(part: MimeMessage) -> bytes:
    """A leaf part's body with its transfer encoding undone; b"" for a container part."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def attachment_id(part_id: str) -> str:
    return _ATTACHMENT_PREFIX + b64url(f"part:{part_id}".encode()).rstrip("=")


def attachment_resource(message: Message, attachment: str) -> dict:
    if not attachment.startswith(_ATTACHMENT_PREFIX):
        raise SandboxError("invalid", "Invalid attachment token")
    try:
        part_id = b64url_decode(attachment[len(_ATTACHMENT_PREFIX) :]).decode().split(":", 1)[1]
    except (ValueError, IndexError, UnicodeDecodeError) as error:
        raise SandboxError("invalid", "Invalid attachment token") from error
    part: MimeMessage = email.message_from_bytes(bytes(message.raw), policy=email.policy.default)
    for index in [int(i) for i in part_id.split(".") if i != ""]:
        payload = part.get_payload()
        children = payload if isinstance(payload, list) else []  # a multipart's parts
        if index >= len(children):
            raise SandboxError("not_found", "Requested entity was not found.")
        child = children[index]
        assert isinstance(child, MimeMessage)  # the parser makes every part a message
        part = child
    data = _decoded_body(part)
    return {"attachmentId": attachment, "size": len(data), "data": b64url(data)}


def label_resource(label: Label) -> dict:
    resource = {"id": label.provider_id, "name": label.name}
    resource.update(label.options)
    resource["type"] = label.kind
    return resource


def history_record(event: HistoryEvent) -> dict:
    short = {"id": event.message_id, "threadId": event.thread_id}
    with_labels: dict[str, str | list[str]] = dict(short)
    labels = event.message_label_ids.split()
    if labels:
        with_labels["labelIds"] = labels
    record: dict = {"id": str(event.history_id), "messages": [short]}
    kind = HistoryEvent.Kind
    if event.kind == kind.MESSAGE_ADDED:
        record["messagesAdded"] = [{"message": with_labels}]
    elif event.kind == kind.MESSAGE_DELETED:
        record["messagesDeleted"] = [{"message": short}]
    else:
        key = "labelsAdded" if event.kind == kind.LABEL_ADDED else "labelsRemoved"
        record[key] = [{"message": with_labels, "labelIds": event.changed_label_ids.split()}]
    return record
