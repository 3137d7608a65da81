"""Move kept draft attachments' bytes to the attachments storage, as candidates 0009."""

from django.db import migrations

from core.attachment_migration import content_b64_to_storage, storage_to_content_b64


def content_to_storage(apps, schema_editor):
    content_b64_to_storage(apps.get_model("mailsync", "DraftAttachment"))


def content_to_database(apps, schema_editor):
    storage_to_content_b64(apps.get_model("mailsync", "DraftAttachment"))


class Migration(migrations.Migration):
    dependencies = [("mailsync", "0011_draftattachment_blob")]

    operations = [migrations.RunPython(content_to_storage, content_to_database)]
