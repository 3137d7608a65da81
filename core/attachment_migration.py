"""The one move of attachment bytes out of the database, shared by the candidates and
mailsync migrations (EmailAttachment and DraftAttachment had the same content_b64: the
bytes in base64, encrypted by the field), and its reverse."""

import base64
from typing import Any

from core.attachment_storage import attachment_blob_read, attachment_blob_write


def content_b64_to_storage(model: Any) -> None:
    """`model` is the historical model of a migration, with both content_b64 and blob."""
    # One row at a time, by id: attachments run to megabytes each, and SQLite promises no
    # cursor over rows being updated. Rows already moved (a rerun) are skipped.
    pending = model.objects.filter(blob="").order_by("pk").values_list("pk", flat=True)
    for pk in list(pending):
        content_b64 = model.objects.only("content_b64").get(pk=pk).content_b64
        blob = attachment_blob_write(base64.b64decode(content_b64))
        model.objects.filter(pk=pk).update(blob=blob, content_b64="")


def storage_to_content_b64(model: Any) -> None:
    # The files are left in storage: the rows hold their bytes again, and storage cannot
    # be rolled back with the database should this reverse fail half way.
    moved = model.objects.exclude(blob="").order_by("pk").values_list("pk", "blob")
    for pk, blob in list(moved):
        content_b64 = base64.b64encode(attachment_blob_read(blob)).decode()
        model.objects.filter(pk=pk).update(content_b64=content_b64, blob="")
