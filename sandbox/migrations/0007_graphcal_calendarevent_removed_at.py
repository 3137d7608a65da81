from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0006_calendar_events_and_contacts"),
    ]

    operations = [
        migrations.AddField(
            model_name="calendarevent",
            name="removed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
