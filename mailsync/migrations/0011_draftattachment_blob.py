import encrypted_model_fields.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("mailsync", "0010_mailbox_sync_health")]

    operations = [
        migrations.AddField(
            model_name="draftattachment",
            name="blob",
            field=models.CharField(default="", editable=False, max_length=100),
            preserve_default=False,
        ),
        # As candidates 0008: a default so that undoing 0013 can add the column back.
        migrations.AlterField(
            model_name="draftattachment",
            name="content_b64",
            field=encrypted_model_fields.fields.EncryptedTextField(blank=True, default=""),
        ),
    ]
