"""Messages stored before HTML was cleaned at store time are cleaned once by a migration,
under the same caps."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import OrganisationFactory

BEFORE = [("candidates", "0003_attachment_content_storage")]
AFTER = [("candidates", "0005_clean_stored_html_once")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_messages_stored_before_are_cleaned_once_by_the_migration():
    try:
        old_apps = _migrate(BEFORE)
        # accounts stays migrated to its latest state: made with today's model, read as then.
        organisation = old_apps.get_model("accounts", "Organisation").objects.get(
            pk=OrganisationFactory().pk
        )
        candidate = old_apps.get_model("candidates", "Candidate").objects.create(
            organisation=organisation, full_name="Ada"
        )
        thread = old_apps.get_model("candidates", "EmailThread").objects.create(
            organisation=organisation, candidate=candidate, subject="Hi"
        )
        message_model = old_apps.get_model("candidates", "EmailMessage")

        def old_message(n: int, body_html: str):
            return message_model.objects.create(
                thread=thread,
                message_id=f"<{n}@x.test>",
                message_id_digest=f"{n:064x}",
                direction="inbound",
                from_header="Ada <ada@x.test>",
                body_text="Thanks.",
                body_html=body_html,
                sent_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            )

        normal = old_message(1, '<p>Hi</p><script>steal()</script><img src="https://t.example/p">')
        nested = old_message(2, "<div>" * 5000)
        plain = old_message(3, "")

        new_apps = _migrate(AFTER)

        messages = new_apps.get_model("candidates", "EmailMessage").objects
        normal, nested, plain = (messages.get(pk=m.pk) for m in (normal, nested, plain))
        assert normal.body_html_display.startswith("<p>Hi</p>")
        assert "steal()" not in normal.body_html_display
        assert normal.has_remote_images and not normal.html_too_complex
        assert nested.html_too_complex and nested.body_html_display == ""
        assert nested.body_html == "<div>" * 5000
        assert (plain.body_html_display, plain.html_too_complex) == ("", False)
    finally:
        # Back to the latest schema, through 0006's backfill of these threads (which
        # failed on PostgreSQL while 0006 was one transaction): later tests in this
        # process share the database.
        executor = MigrationExecutor(connection)
        _migrate(executor.loader.graph.leaf_nodes())
