"""After a key rotation, one command rewrites every encrypted database field under the new
key (the start-up check's canary row included), so that the old key can be dropped. It
works on the stored ciphertext, never on what the fields read back, changes nothing on a
second run or a dry run, leaves what no key reads alone (and says so in its exit status),
and never overwrites a row the app saved while it ran."""

import logging
from collections.abc import Callable
from io import StringIO
from typing import Any

import encrypted_model_fields.fields
import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from encrypted_model_fields.fields import EncryptedMixin

from candidates.models import EmailAttachment, EmailMessage
from core.encryption import (
    FieldReencryptReport,
    encrypted_field_batch_reencrypt,
    encrypted_fields_reencrypt,
    verify_field_encryption_key,
)
from core.models import EncryptionCanary
from mailsync.models import DraftAttachment, MailboxConnection
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    MailboxConnectionFactory,
)

pytestmark = pytest.mark.django_db

# Where a stored value is: ("app_label.Model.field", pk).
Where = tuple[str, Any]
UseKeys = Callable[..., None]

CREDENTIALS = '{"refresh_token": "a refresh token"}'


@pytest.fixture
def use_keys(settings, monkeypatch) -> UseKeys:
    """Run with FIELD_ENCRYPTION_KEY set to these keys, as a restart with them would: the
    setting (comma-separated, as in the environment) and the library's crypter, which
    encrypted_model_fields builds once, at import, into its module-level CRYPTER."""

    def use(*keys: str) -> None:
        settings.FIELD_ENCRYPTION_KEY = ",".join(keys)
        crypter = MultiFernet([Fernet(key) for key in keys])
        monkeypatch.setattr(encrypted_model_fields.fields, "CRYPTER", crypter)

    return use


@pytest.fixture
def keys(use_keys) -> tuple[str, str, str]:
    """Three keys: A, in use from here on; B, the next one; C, never listed again."""
    old, new, stray = (Fernet.generate_key().decode() for _ in range(3))
    use_keys(old)
    # A canary left by an earlier start would be under the test run's own key.
    EncryptionCanary.objects.all().delete()
    return old, new, stray


def _stored_tokens() -> dict[Where, str]:
    """Every non-empty encrypted value as stored, read with plain SQL: nothing of the
    fields' own decryption in the way."""
    tokens = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not (isinstance(field, EncryptedMixin) and field.model is model):
                    continue
                column, table = quote(field.column), quote(model._meta.db_table)
                cursor.execute(
                    # Names from the models' own metadata, quoted: no outside input.
                    f"SELECT {quote(model._meta.pk.column)}, {column} FROM {table} "  # noqa: S608
                    f"WHERE {column} IS NOT NULL AND {column} <> ''"
                )
                for pk, token in cursor.fetchall():
                    tokens[(f"{model._meta.label}.{field.name}", pk)] = token
    return tokens


def _decrypted(tokens: dict[Where, str], key: str) -> dict[Where, bytes]:
    """Each token decrypted with this key alone (InvalidToken if one is not under it)."""
    only = Fernet(key)
    return {where: only.decrypt(token) for where, token in tokens.items()}


def _mail_under_the_current_key():
    """One of each kind of row with encrypted fields, the canary included; the message."""
    verify_field_encryption_key()  # writes the canary row, as the first start does
    mailbox = MailboxConnectionFactory(credentials=CREDENTIALS)
    message = EmailMessageFactory(body_text="Happy to talk on Tuesday.", cc_header="")
    EmailAttachmentFactory(message=message, filename="cv.pdf")
    # A UUID primary key, which SQLite stores as text of its own.
    DraftAttachment.objects.create(user=mailbox.user, filename="draft.pdf", size=3, blob="")
    return message


def _reencrypt(*args: str) -> str:
    out = StringIO()
    call_command("fields_reencrypt", *args, stdout=out)
    return out.getvalue()


def test_an_operator_rewrites_every_encrypted_value_under_the_new_key(keys, use_keys):
    old, new, _ = keys
    message = _mail_under_the_current_key()
    before = _stored_tokens()
    plain = _decrypted(before, old)
    use_keys(new, old)

    out = _reencrypt("--batch-size", "2")

    after = _stored_tokens()
    assert after.keys() == before.keys()
    assert _decrypted(after, new) == plain
    rewritten = {field for field, _pk in before}
    assert {
        "core.EncryptionCanary.value",
        "mailsync.MailboxConnection.credentials",
        "candidates.EmailThread.subject",
        "candidates.EmailMessage.body_text",
        "candidates.EmailMessage.cc_header",  # empty, but encrypted all the same
        "candidates.EmailAttachment.filename",
        "mailsync.DraftAttachment.filename",
    } <= rewritten
    assert "core.EncryptionCanary.value: 1 rewritten under the first key, 0 already" in out
    assert "candidates.EmailMessage.body_text: 1 rewritten" in out

    # With the old key gone, the ORM reads the same values, and the start-up check passes.
    use_keys(new)
    verify_field_encryption_key()
    message.refresh_from_db()
    assert (message.body_text, message.cc_header) == ("Happy to talk on Tuesday.", "")
    assert MailboxConnection.objects.get().credentials == CREDENTIALS
    assert EmailAttachment.objects.get().filename == "cv.pdf"
    assert DraftAttachment.objects.get().filename == "draft.pdf"


def test_a_second_run_rewrites_nothing(keys, use_keys):
    old, new, _ = keys
    _mail_under_the_current_key()
    EmailMessageFactory.create_batch(2)  # three messages: two batches of two rows
    count = len(_stored_tokens())
    use_keys(new, old)
    first = encrypted_fields_reencrypt(batch_size=2)
    stored = _stored_tokens()

    second = encrypted_fields_reencrypt(batch_size=2)

    assert sum(report.rewritten for report in first) == count
    assert _decrypted(stored, new)
    assert sum(report.rewritten for report in second) == 0
    assert sum(report.current for report in second) == count
    assert _stored_tokens() == stored


def test_a_dry_run_counts_and_writes_nothing(keys, use_keys):
    old, new, _ = keys
    _mail_under_the_current_key()
    stored = _stored_tokens()
    use_keys(new, old)

    out = _reencrypt("--dry-run")

    assert _stored_tokens() == stored
    assert "core.EncryptionCanary.value: 1 would be rewritten under the first key" in out
    assert sum(report.rewritten for report in encrypted_fields_reencrypt(dry_run=True)) == len(
        stored
    )


def test_values_no_listed_key_reads_are_counted_logged_by_id_and_left(keys, use_keys, caplog):
    old, new, stray = keys
    readable = EmailMessageFactory()
    use_keys(stray)
    lost = MailboxConnectionFactory(credentials=CREDENTIALS)
    # A value stored before its field was encrypted: plain text, and not even ASCII.
    plain = EmailAttachmentFactory(message=readable)
    with connection.cursor() as cursor:
        # In SQL: the field would encrypt whatever an ORM update gives it.
        cursor.execute(
            "UPDATE candidates_emailattachment SET filename = %s WHERE id = %s",
            ["Zoë's CV.pdf", plain.pk],
        )
    stored = _stored_tokens()
    assert stored[("candidates.EmailAttachment.filename", plain.pk)] == "Zoë's CV.pdf"
    use_keys(new, old)

    with (
        caplog.at_level(logging.ERROR, logger="core.encryption"),
        pytest.raises(CommandError, match="2 values are readable with no configured key"),
    ):
        _reencrypt()

    after = _stored_tokens()
    unreadable = [
        ("mailsync.MailboxConnection.credentials", lost.pk),
        ("candidates.EmailAttachment.filename", plain.pk),
    ]
    for where in unreadable:
        assert after[where] == stored[where]
    # The rest is done all the same.
    readable_ones = {where: token for where, token in after.items() if where not in unreadable}
    assert readable_ones and _decrypted(readable_ones, new)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"mailsync.MailboxConnection.credentials id={lost.pk}" in logged
    assert f"candidates.EmailAttachment.filename id={plain.pk}" in logged
    assert stored[unreadable[0]] not in logged and "Zoë" not in logged


def test_a_row_saved_while_its_batch_is_rewritten_keeps_what_the_app_saved(keys, use_keys):
    old, new, _ = keys
    message = EmailMessageFactory(body_text="As synced.")
    field = EmailMessage._meta.get_field("body_text")
    read = [(message.pk, _stored_tokens()[("candidates.EmailMessage.body_text", message.pk)])]
    use_keys(new, old)
    # The app saves the row after the batch was read, before it is written.
    message.body_text = "Edited meanwhile."
    message.save()
    report = FieldReencryptReport(field="candidates.EmailMessage.body_text")

    encrypted_field_batch_reencrypt(EmailMessage, field, read, report)

    assert (report.rewritten, report.changed_meanwhile) == (0, 1)
    message.refresh_from_db()
    assert message.body_text == "Edited meanwhile."
