"""FIELD_ENCRYPTION_KEY: the keys themselves, the start-up check that they decrypt what is
already stored, and the re-encryption of the encrypted fields after a key rotation.

The setting lists Fernet keys, newest first: the first encrypts, every one decrypts. The
encrypted model fields (django-encrypted-model-fields) and the attachment files
(core/attachment_storage.py) share them.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, models, transaction
from django.db.models.functions import Cast
from encrypted_model_fields.fields import EncryptedMixin

from core.batches import pk_batches

logger = logging.getLogger(__name__)


def field_encryption_keys() -> tuple[str, ...]:
    """The configured keys, newest (the one that encrypts) first."""
    # Read at each call, not at import (as encrypted_model_fields does): settings
    # overridden in a test or a rotation take effect without a restart of the module.
    configured = settings.FIELD_ENCRYPTION_KEY
    if isinstance(configured, str):
        configured = configured.split(",")
    return tuple(key.strip() for key in configured if key.strip())


@functools.cache
def _fernet(key: str) -> Fernet:
    return Fernet(key)


def _keys_required() -> tuple[str, ...]:
    """The configured keys, first the one to encrypt under; refused when there are none."""
    keys = field_encryption_keys()
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is required: no key is configured.")
    return keys


@functools.cache
def _crypter(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_fernet(key) for key in keys])


def field_encryption_crypter() -> MultiFernet:
    """Encrypts under the first configured key, decrypts under any of them."""
    return _crypter(_keys_required())


def fernet_token_binary(content: bytes) -> bytes:
    """The Fernet token of `content` under the first configured key, in its binary form
    (the bytes that Fernet.encrypt's answer is the URL-safe base64 of).

    Built here with the same primitives Fernet uses, to the Fernet specification (version
    byte, timestamp, IV, AES-128-CBC with PKCS7 padding, HMAC-SHA256 over all of it),
    because cryptography offers the token only as base64: storing it raw (attachments)
    meant encoding a 2 MB attachment to base64 and decoding it straight back, a fifth of
    an attachment post's CPU. Fernet itself decrypts what this makes (tested)."""
    key = base64.urlsafe_b64decode(_keys_required()[0])
    signing_key, encryption_key = key[:16], key[16:]
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(content) + padder.finalize()
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(encryption_key), modes.CBC(iv)).encryptor()
    signed = (
        b"\x80"  # the Fernet version
        + int(time.time()).to_bytes(8, "big")
        + iv
        + encryptor.update(padded)
        + encryptor.finalize()
    )
    mac = HMAC(signing_key, hashes.SHA256())
    mac.update(signed)
    return signed + mac.finalize()


def token_rotate_to_first_key(token: bytes | str) -> bytes | None:
    """None when the Fernet token is already under the first configured key; otherwise
    the same content as a token under it (MultiFernet.rotate). Raises InvalidToken when no
    configured key decrypts it."""
    crypter = field_encryption_crypter()  # refuses an empty key list before anything is read
    if isinstance(token, str):
        # As bytes: base64 skips a character it does not know in bytes, but raises
        # ValueError (not InvalidToken) on a non-ASCII str, such as a value stored in
        # plain text before its field was encrypted.
        token = token.encode()
    try:
        _fernet(field_encryption_keys()[0]).decrypt(token)
    except InvalidToken:
        return crypter.rotate(token)
    return None


CANARY_VALUE = "threadline-field-encryption-canary-v1"
_verified_aliases: set[str] = set()


class FieldEncryptionKeyMismatch(ImproperlyConfigured):
    pass


def verify_field_encryption_key(using: str = "default") -> None:
    """Write the canary on first use; on every later start, prove the key decrypts it."""
    from core.models import EncryptionCanary

    canary = EncryptionCanary.objects.using(using).order_by("pk").first()
    if canary is None:
        EncryptionCanary.objects.using(using).create(value=CANARY_VALUE)
        return
    if canary.value != CANARY_VALUE:
        raise FieldEncryptionKeyMismatch(
            "FIELD_ENCRYPTION_KEY cannot decrypt the data in this database: encrypted "
            "fields would read back as ciphertext. Restore the key this database was "
            "written with (keep old keys listed after the new one when rotating)."
        )


def verify_key_on_first_connection(sender, connection, **kwargs) -> None:
    """Run the check once per process and database, as soon as the canary table exists."""
    alias = connection.alias
    if alias in _verified_aliases:
        return
    # Mark first: the check itself opens no new connection, but must not recurse.
    _verified_aliases.add(alias)
    try:
        tables = connection.introspection.table_names()
    except Exception:
        _verified_aliases.discard(alias)
        raise
    if "core_encryptioncanary" not in tables:
        # Not migrated yet (fresh database, or the test database being built): check later.
        _verified_aliases.discard(alias)
        return
    try:
        verify_field_encryption_key(using=alias)
    except FieldEncryptionKeyMismatch:
        _verified_aliases.discard(alias)
        raise
    logger.debug("Field encryption key verified on %s", connections[alias].settings_dict["NAME"])


def verify_at_startup() -> None:
    """For long-running processes (gunicorn, Celery): refuse to boot on a wrong key rather
    than fail on the first request or task."""
    connections["default"].ensure_connection()


# --- Re-encryption of the encrypted fields after a key rotation ----------------------------

FIELDS_REENCRYPT_BATCH = 500


@dataclass
class FieldReencryptReport:
    field: str  # "app_label.Model.field"
    current: int = 0  # already under the first key: left as it was
    rewritten: int = 0  # now under the first key (with dry_run: would be)
    unreadable: int = 0  # no configured key decrypts it: left as it was, logged by id
    changed_meanwhile: int = 0  # the row went or changed between its read and its rewrite


def encrypted_fields() -> list[tuple[type[models.Model], models.Field[Any, Any]]]:
    """Every concrete encrypted field (django-encrypted-model-fields) of the installed apps,
    each with the model whose table holds its column."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        # A proxy's or a child's (multi-table inheritance) inherited fields live in the
        # parent's table, and are counted there.
        if isinstance(field, EncryptedMixin) and field.model is model
    ]


def _stored_token(field: models.Field[Any, Any]) -> Cast:
    """The column as stored. As a plain TextField it carries none of the encrypted field's
    conversions: reading through the field decrypts (and hands back the ciphertext itself,
    silently, when no key can), and a value compared with the field is decrypted first."""
    return Cast(field.attname, output_field=models.TextField())


def encrypted_field_batch_reencrypt(
    model: type[models.Model],
    field: models.Field[Any, Any],
    rows: list[tuple[Any, str]],
    report: FieldReencryptReport,
    *,
    dry_run: bool = False,
) -> None:
    """Rewrite under the first key the stored tokens `rows` ((pk, token) pairs as read)
    that are not under it yet, in one transaction. Each update is conditional on the
    column still holding the token read: a row the app saved meanwhile (under the first
    key, since the app writes with it) keeps what it has."""
    rewrites: list[tuple[Any, str, str]] = []
    for pk, token in rows:
        try:
            rotated = token_rotate_to_first_key(token)
        except InvalidToken:
            report.unreadable += 1
            # By id only: the token says nothing useful, and what it hides is personal.
            logger.error(
                "encrypted field readable with no configured key: %s id=%s", report.field, pk
            )
            continue
        if rotated is None:
            report.current += 1
        else:
            rewrites.append((pk, token, rotated.decode()))
    if dry_run:
        report.rewritten += len(rewrites)
        return
    with transaction.atomic():
        for pk, token, rotated_token in rewrites:
            if _stored_token_replace(model, field, pk, token, rotated_token):
                report.rewritten += 1
            else:
                report.changed_meanwhile += 1


def _stored_token_replace(
    model: type[models.Model], field: models.Field[Any, Any], pk: Any, token: str, new_token: str
) -> bool:
    """Store `new_token` in the row's column if it still holds `token`; whether it did.

    In SQL, not with QuerySet.update(): the encrypted field encrypts whatever an update
    gives it once more, an expression such as Value() included (as its text)."""
    pk_field = model._meta.pk
    # Every concrete model has a primary key, and every concrete field a column.
    assert pk_field is not None and pk_field.column and field.column
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(field.column)
    with connection.cursor() as cursor:
        cursor.execute(
            # Names from the models' own metadata, quoted: no outside input.
            f"UPDATE {table} SET {column} = %s "  # noqa: S608
            f"WHERE {quote(pk_field.column)} = %s AND {column} = %s",
            [new_token, pk_field.get_db_prep_value(pk, connection), token],
        )
        return cursor.rowcount == 1


def encrypted_fields_reencrypt(
    *, batch_size: int = FIELDS_REENCRYPT_BATCH, dry_run: bool = False
) -> list[FieldReencryptReport]:
    """After a key rotation (a new key first in FIELD_ENCRYPTION_KEY): rewrite every
    encrypted field's value under the first key, so that the older keys can then be
    dropped; one report per field. Idempotent, and resumable by rerunning: values already
    under the first key are read but not rewritten, and each batch commits on its own.
    Null and empty values are left alone; so are values no configured key decrypts."""
    reports = []
    for model, field in encrypted_fields():
        report = FieldReencryptReport(field=f"{model._meta.label}.{field.name}")
        # The base manager: a default manager that hides rows would leave them behind.
        with_value = (
            model._base_manager.annotate(stored_token=_stored_token(field))
            .filter(stored_token__isnull=False)
            .exclude(stored_token="")
        )
        for batch in pk_batches(with_value, "stored_token", batch_size=batch_size):
            encrypted_field_batch_reencrypt(model, field, batch, report, dry_run=dry_run)
        logger.info(
            "encrypted field re-encryption%s: %s: %d rewritten, %d already current, "
            "%d unreadable, %d changed meanwhile",
            " (dry run)" if dry_run else "",
            report.field,
            report.rewritten,
            report.current,
            report.unreadable,
            report.changed_meanwhile,
        )
        reports.append(report)
    return reports
