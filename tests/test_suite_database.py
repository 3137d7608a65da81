"""The suite's own database engines (tests/database): the flush after a transactional
test empties every table but content types and permissions, on either database."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from accounts.models import User
from candidates.models import Candidate


@pytest.mark.django_db(transaction=True)
def test_the_flush_after_a_transactional_test_keeps_only_content_types_and_permissions(team):
    content_types = set(ContentType.objects.values_list("pk", flat=True))
    permissions = Permission.objects.count()
    assert Candidate.objects.exists() and User.objects.exists()

    # As pytest-django's transactional teardown calls it.
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)

    assert not Candidate.objects.exists()
    assert not User.objects.exists()
    assert set(ContentType.objects.values_list("pk", flat=True)) == content_types
    assert Permission.objects.count() == permissions


def test_the_flush_deletes_rows_instead_of_truncating_files():
    statements = connection.ops.sql_flush(
        no_style(), ["candidates_candidate", "django_content_type", "auth_permission"]
    )
    assert statements == ['DELETE FROM "candidates_candidate";']
