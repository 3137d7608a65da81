"""Move each attachment's bytes from the database (content_b64: base64, then Fernet) to
the attachments storage (core.attachment_storage: Fernet over the raw bytes)."""

from django.db import migrations

from core.attachment_migration import content_b64_to_storage, storage_to_content_b64


def content_to_storage(apps, schema_editor):
    content_b64_to_storage(apps.get_model("candidates", "EmailAttachment"))


def content_to_database(apps, schema_editor):
    storage_to_content_b64(apps.get_model("candidates", "EmailAttachment"))


class Migration(migrations.Migration):
    dependencies = [("candidates", "0008_emailattachment_blob")]

    operations = [migrations.RunPython(content_to_storage, content_to_database)]
