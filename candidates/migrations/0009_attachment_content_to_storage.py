"""Move each attachment's bytes from the database (content_b64: base64, then Fernet) to
the attachments storage (core.attachment_storage: Fernet over the raw bytes)."""

import base64

from django.db import migrations

from core.attachment_storage import attachment_blob_read, attachment_blob_write


def content_to_storage(apps, schema_editor):
    EmailAttachment = apps.get_model("candidates", "EmailAttachment")
    # One row at a time, by id (attachments run to megabytes each, and SQLite would not
    # promise a cursor over rows being updated). Rows already moved are skipped.
    pending = EmailAttachment.objects.filter(blob="").order_by("pk").values_list("pk", flat=True)
    for pk in list(pending):
        content_b64 = EmailAttachment.objects.only("content_b64").get(pk=pk).content_b64
        blob = attachment_blob_write(base64.b64decode(content_b64))
        EmailAttachment.objects.filter(pk=pk).update(blob=blob, content_b64="")


def content_to_database(apps, schema_editor):
    # The files are left in storage: the rows now hold their bytes again, and the storage
    # cannot be rolled back with the database should this reverse fail half way.
    EmailAttachment = apps.get_model("candidates", "EmailAttachment")
    moved = EmailAttachment.objects.exclude(blob="").order_by("pk").values_list("pk", "blob")
    for pk, blob in list(moved):
        content = base64.b64encode(attachment_blob_read(blob)).decode()
        EmailAttachment.objects.filter(pk=pk).update(content_b64=content, blob="")


class Migration(migrations.Migration):
    dependencies = [("candidates", "0008_emailattachment_blob")]

    operations = [migrations.RunPython(content_to_storage, content_to_database)]
