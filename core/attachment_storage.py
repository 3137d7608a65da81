"""Attachment bytes, encrypted, in a file or object store instead of the database.

The content is encrypted with the same Fernet keys as the encrypted model fields
(FIELD_ENCRYPTION_KEY: newest first, older ones only to read), so one key, one rotation
and one canary cover both. What is stored is the Fernet token in its binary form: the
token's own base64 would add a third to every file for nothing.

Blobs are named by a random id, never by the attachment's filename (personal data, and
the sender's choice). They live in the "attachments" storage of settings.STORAGES: a
directory by default, an S3-compatible bucket when configured (config/settings/base.py).
"""

import base64
import functools
import uuid
from typing import Any, Protocol

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction

STORAGE_ALIAS = "attachments"


def _storage() -> Storage:
    return storages[STORAGE_ALIAS]


@functools.cache
def _crypter(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is required to store attachments.")
    return MultiFernet([Fernet(key) for key in keys])


def _configured_crypter() -> MultiFernet:
    # Read at each call, not at import (as encrypted_model_fields does): settings
    # overridden in a test or a rotation take effect without a restart of the module.
    configured = settings.FIELD_ENCRYPTION_KEY
    if isinstance(configured, str):
        configured = configured.split(",")
    return _crypter(tuple(key.strip() for key in configured if key.strip()))


def attachment_blob_write(content: bytes) -> str:
    """Encrypt and store the bytes; returns the blob's name, to keep on the row."""
    token = base64.urlsafe_b64decode(_configured_crypter().encrypt(content))
    blob_id = uuid.uuid4().hex
    # Two levels of directory, so that no directory grows to millions of entries.
    name = f"{blob_id[:2]}/{blob_id}"
    saved = _storage().save(name, ContentFile(token))
    # A storage may rename to avoid an overwrite: the row must hold the name it chose.
    return saved


def attachment_blob_read(name: str) -> bytes:
    """The original bytes of a stored blob (written under any of the configured keys)."""
    with _storage().open(name, "rb") as stored:
        token = stored.read()
    return _configured_crypter().decrypt(base64.urlsafe_b64encode(token))


def attachment_blob_delete(name: str) -> None:
    """Remove a blob; a blob already gone is not an error (deletes may be retried)."""
    if name:
        _storage().delete(name)


class _WithBlob(Protocol):
    blob: str


def blob_delete_with_row(sender: type, instance: _WithBlob, using: str, **kwargs: Any) -> None:
    """post_delete receiver for the models that keep a blob (connected in their apps'
    ready()): the file goes when its row goes, however the row is deleted.

    A signal rather than a call in each service, because rows go by cascade (messages,
    threads, candidates, users), by querysets (retention, purge, clean-ups) and one by one
    (removal), and Django's deletion collector sends post_delete for every row it removes,
    cascades included (not for raw SQL, which Threadline does not delete mail with).
    """
    # After the commit: a rolled-back delete must still find its bytes. Robust: the rows
    # are gone whatever happens, and a storage outage must not turn a finished removal into
    # an error page (the file is then left behind, unreferenced ciphertext).
    transaction.on_commit(
        functools.partial(attachment_blob_delete, instance.blob), using=using, robust=True
    )
