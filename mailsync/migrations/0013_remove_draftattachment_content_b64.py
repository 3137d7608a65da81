from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("mailsync", "0012_draft_attachment_content_to_storage")]

    operations = [migrations.RemoveField(model_name="draftattachment", name="content_b64")]
