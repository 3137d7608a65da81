"""Clean the HTML of messages stored before cleaning moved from render time to store time,
once, under the same caps (a message over them is marked and shown as text)."""

from django.db import migrations

from candidates.rendering import prepare_html_for_storage


def clean_stored_html(apps, schema_editor):
    EmailMessage = apps.get_model("candidates", "EmailMessage")
    # Encrypted fields cannot be filtered on in SQL: every row is read, a batch at a time.
    messages = EmailMessage.objects.only("pk", "body_text", "body_html").order_by("pk")
    for message in messages.iterator(chunk_size=200):
        if not message.body_html:
            continue
        stored = prepare_html_for_storage(message.body_html, text_part=message.body_text)
        EmailMessage.objects.filter(pk=message.pk).update(
            body_html_display=stored.display,
            has_remote_images=stored.has_remote_images,
            html_too_complex=stored.too_complex,
        )


class Migration(migrations.Migration):
    dependencies = [("candidates", "0004_emailmessage_html_cleaned_when_stored")]

    operations = [migrations.RunPython(clean_stored_html, migrations.RunPython.noop)]
