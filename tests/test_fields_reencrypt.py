"""After a key rotation, one command rewrites every encrypted database field under the new
key (the start-up check's canary row included), so that the old key can be dropped. It
works on the stored ciphertext, never on what the fields read back, changes nothing on a
second run or a dry run, leaves what no key reads alone (and says so in its exit status),
and never overwrites a row the app saved while it ran."""

import logging
from io import StringIO
from typing import Any, NamedTuple

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from encrypted_model_fields.fields import EncryptedMixin

from candidates.models import EmailMessage
from core.encryption import (
    CANARY_VALUE,
    FieldReencryptReport,
    encrypted_field_batch_reencrypt,
    encrypted_fields_reencrypt,
    field_encryption_keys,
    verify_field_encryption_key,
)
from core.models import EncryptionCanary
from mailsync.models import DraftAttachment
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    MailboxConnectionFactory,
)

pytestmark = pytest.mark.django_db

# Where a stored value is: ("app_label.Model.field", pk).
Where = tuple[str, Any]

CREDENTIALS = '{"refresh_token": "a refresh token"}'


class Keys(NamedTuple):
    old: str  # the test run's own: the fields write (and read) with it throughout
    new: str  # first in the setting once rotate() has run
    stray: str  # never listed


@pytest.fixture
def keys() -> Keys:
    """The key the fields write with, a new one, and one never configured.

    django-encrypted-model-fields builds its crypter once, at import, from the setting: in
    this process the ORM writes and reads under the test run's first key whatever the
    setting later says. The command reads the setting at each call, so a rotation is the
    setting alone (rotate()), and what it wrote is read here from the columns, with Fernet."""
    old = field_encryption_keys()[0]
    new, stray = (Fernet.generate_key().decode() for _ in range(2))
    # One canary only, the one a test writes (an earlier start's would be under `old` too).
    EncryptionCanary.objects.all().delete()
    return Keys(old, new, stray)


def rotate(settings, keys: Keys) -> None:
    """The new key first, the old one after it: comma-separated, as the environment has it."""
    settings.FIELD_ENCRYPTION_KEY = f"{keys.new},{keys.old}"


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
    """Each token decrypted with this key alone (InvalidToken if one is not under it): the
    text the field encrypted, UTF-8 encoded (every encrypted field here is a text one)."""
    only = Fernet(key)
    return {where: only.decrypt(token.encode()) for where, token in tokens.items()}


def _under(key: str, text: str) -> str:
    """A token of `text` under this key, as the field would have stored it."""
    return Fernet(key).encrypt(text.encode()).decode()


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


def test_an_operator_rewrites_every_encrypted_value_under_the_new_key(keys, settings):
    message = _mail_under_the_current_key()
    before = _stored_tokens()
    plain = _decrypted(before, keys.old)
    rotate(settings, keys)

    out = _reencrypt("--batch-size", "2")

    after = _stored_tokens()
    assert after.keys() == before.keys()
    under_new = _decrypted(after, keys.new)
    assert under_new == plain
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

    # With the old key gone, the new one alone reads back what was saved (the fields
    # decrypt the stored token, UTF-8), the canary's text included: the start-up check
    # passes. One row of each here, whatever the database makes of a UUID primary key.
    saved = {
        "core.EncryptionCanary.value": CANARY_VALUE,
        "candidates.EmailMessage.body_text": "Happy to talk on Tuesday.",
        "candidates.EmailMessage.cc_header": "",
        "mailsync.MailboxConnection.credentials": CREDENTIALS,
        "candidates.EmailAttachment.filename": "cv.pdf",
        "mailsync.DraftAttachment.filename": "draft.pdf",
    }
    read_back = sorted(
        (field, text.decode()) for (field, _pk), text in under_new.items() if field in saved
    )
    assert read_back == sorted(saved.items())
    assert under_new[("candidates.EmailMessage.body_text", message.pk)] == (
        b"Happy to talk on Tuesday."
    )


def test_a_second_run_rewrites_nothing(keys, settings):
    _mail_under_the_current_key()
    EmailMessageFactory.create_batch(2)  # three messages: two batches of two rows
    plain = _decrypted(_stored_tokens(), keys.old)
    rotate(settings, keys)
    first = encrypted_fields_reencrypt(batch_size=2)
    stored = _stored_tokens()

    second = encrypted_fields_reencrypt(batch_size=2)

    assert sum(report.rewritten for report in first) == len(plain)
    assert _decrypted(stored, keys.new) == plain
    assert sum(report.rewritten for report in second) == 0
    assert sum(report.current for report in second) == len(plain)
    assert _stored_tokens() == stored


def test_a_dry_run_counts_and_writes_nothing(keys, settings):
    _mail_under_the_current_key()
    stored = _stored_tokens()
    rotate(settings, keys)

    out = _reencrypt("--dry-run")

    assert _stored_tokens() == stored
    assert "core.EncryptionCanary.value: 1 would be rewritten under the first key" in out
    assert sum(report.rewritten for report in encrypted_fields_reencrypt(dry_run=True)) == len(
        stored
    )
    assert _stored_tokens() == stored


def test_values_no_listed_key_reads_are_counted_logged_by_id_and_left(keys, settings, caplog):
    readable = EmailMessageFactory()
    lost = MailboxConnectionFactory()
    plain = EmailAttachmentFactory(message=readable)
    with connection.cursor() as cursor:
        # In SQL: the field would encrypt whatever an ORM update gives it, under its key.
        # A value under a key no one lists any more...
        cursor.execute(
            "UPDATE mailsync_mailboxconnection SET credentials = %s WHERE id = %s",
            [_under(keys.stray, CREDENTIALS), lost.pk],
        )
        # ...and one stored before its field was encrypted: plain text, not even ASCII.
        cursor.execute(
            "UPDATE candidates_emailattachment SET filename = %s WHERE id = %s",
            ["Zoë's CV.pdf", plain.pk],
        )
    stored = _stored_tokens()
    assert stored[("candidates.EmailAttachment.filename", plain.pk)] == "Zoë's CV.pdf"
    lost_token = stored[("mailsync.MailboxConnection.credentials", lost.pk)]
    assert Fernet(keys.stray).decrypt(lost_token.encode()) == CREDENTIALS.encode()
    rotate(settings, keys)

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
    assert readable_ones
    assert _decrypted(readable_ones, keys.new) == _decrypted(
        {where: stored[where] for where in readable_ones}, keys.old
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"mailsync.MailboxConnection.credentials id={lost.pk}" in logged
    assert f"candidates.EmailAttachment.filename id={plain.pk}" in logged
    assert lost_token not in logged and "Zoë" not in logged


def test_a_row_saved_while_its_batch_is_rewritten_keeps_what_the_app_saved(keys, settings):
    message = EmailMessageFactory(body_text="As synced.")
    field = EmailMessage._meta.get_field("body_text")
    where = ("candidates.EmailMessage.body_text", message.pk)
    read = [(message.pk, _stored_tokens()[where])]
    rotate(settings, keys)
    # The app saves the row after the batch was read, before it is written (under the old
    # key in this process, the new one in a restarted app: a token other than the one read).
    message.body_text = "Edited meanwhile."
    message.save()
    saved = _stored_tokens()[where]
    assert saved != read[0][1]
    report = FieldReencryptReport(field="candidates.EmailMessage.body_text")

    encrypted_field_batch_reencrypt(EmailMessage, field, read, report)

    assert (report.rewritten, report.changed_meanwhile) == (0, 1)
    assert _stored_tokens()[where] == saved
    message.refresh_from_db()
    assert message.body_text == "Edited meanwhile."
