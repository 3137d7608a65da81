from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("candidates", "0009_attachment_content_to_storage")]

    operations = [migrations.RemoveField(model_name="emailattachment", name="content_b64")]
