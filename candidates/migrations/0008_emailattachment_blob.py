import encrypted_model_fields.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("candidates", "0007_alter_emailthread_origin")]

    operations = [
        migrations.AddField(
            model_name="emailattachment",
            name="blob",
            field=models.CharField(default="", editable=False, max_length=100),
            preserve_default=False,
        ),
        # A default for the column being retired, so that undoing 0010 can add it back to
        # existing rows before 0009's reverse fills it. (On PostgreSQL this changes nothing
        # in the database; SQLite rebuilds the table once.)
        migrations.AlterField(
            model_name="emailattachment",
            name="content_b64",
            field=encrypted_model_fields.fields.EncryptedTextField(blank=True, default=""),
        ),
    ]
