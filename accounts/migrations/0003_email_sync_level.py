import secrets

from django.db import migrations, models

import accounts.models


def give_each_organisation_an_inbound_key(apps, schema_editor):
    Organisation = apps.get_model("accounts", "Organisation")
    for organisation in Organisation.objects.filter(inbound_key__isnull=True):
        organisation.inbound_key = f"replies-{secrets.token_hex(6)}"
        organisation.save(update_fields=["inbound_key"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_microsoft_authorization")]

    operations = [
        migrations.AddField(
            model_name="organisation",
            name="email_sync_level",
            field=models.CharField(
                choices=[("full", "Full sync"), ("limited", "Limited sync")],
                default="full",
                help_text="Full: send and read (default-deny). Limited: send only; replies "
                "arrive through the mail admin's routing rule.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="organisation",
            name="routing_confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="organisation",
            name="inbound_key",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.RunPython(give_each_organisation_an_inbound_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="organisation",
            name="inbound_key",
            field=models.CharField(
                default=accounts.models.new_inbound_key,
                help_text="Local part of the address that routed replies are sent to.",
                max_length=64,
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="organisation",
            name="email_provider",
            field=models.CharField(
                choices=[
                    ("google", "Google Workspace"),
                    ("microsoft", "Microsoft 365"),
                    ("exchange_on_premise", "Exchange Server (on-premise)"),
                ],
                default="google",
                help_text="Where this organisation's mailboxes live; users connect their own.",
                max_length=20,
            ),
        ),
    ]
