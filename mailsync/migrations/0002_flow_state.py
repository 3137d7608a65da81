import encrypted_model_fields.fields
from django.db import migrations


class Migration(migrations.Migration):
    """Pending authorizations live for minutes; replacing the column loses nothing."""

    dependencies = [("mailsync", "0001_initial")]

    operations = [
        migrations.RemoveField(model_name="pendingauthorization", name="code_verifier"),
        migrations.AddField(
            model_name="pendingauthorization",
            name="flow_state",
            field=encrypted_model_fields.fields.EncryptedTextField(default=""),
            preserve_default=False,
        ),
    ]
