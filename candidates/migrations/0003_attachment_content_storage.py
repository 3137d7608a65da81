from django.db import migrations


def store_attachment_content_uncompressed(apps, schema_editor):
    # Encrypted content does not compress; PostgreSQL's default storage tries pglz on every
    # value anyway (1 MB attachment: 41 ms to insert, 9.6 ms with EXTERNAL). Other
    # databases have no such setting.
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("candidates", "EmailAttachment")._meta.db_table
    schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "content_b64" SET STORAGE EXTERNAL')


def store_attachment_content_compressed(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("candidates", "EmailAttachment")._meta.db_table
    schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "content_b64" SET STORAGE EXTENDED')


class Migration(migrations.Migration):
    dependencies = [("candidates", "0002_emailmessage_emailattachment_emailthread_and_more")]

    operations = [
        migrations.RunPython(
            store_attachment_content_uncompressed, store_attachment_content_compressed
        )
    ]
