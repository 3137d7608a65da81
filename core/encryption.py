"""Start-up check that FIELD_ENCRYPTION_KEY decrypts what is already stored."""

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

logger = logging.getLogger(__name__)

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
