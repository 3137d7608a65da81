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
import logging
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, Protocol

from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.utils import timezone

from core.batches import pk_batches
from core.encryption import (
    fernet_token_binary,
    field_encryption_crypter,
    token_rotate_to_first_key,
)

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "attachments"


def _storage() -> Storage:
    return storages[STORAGE_ALIAS]


def attachment_blob_write(content: bytes) -> str:
    """Encrypt and store the bytes; returns the blob's name, to keep on the row."""
    return _token_save(fernet_token_binary(content))


def _token_save(token: bytes) -> str:
    """Store a Fernet token in its binary form under a new random name; returns it."""
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
    return field_encryption_crypter().decrypt(base64.urlsafe_b64encode(token))


def attachment_blob_delete(name: str) -> None:
    """Remove a blob; a blob already gone is not an error (deletes may be retried)."""
    if name:
        _storage().delete(name)


# The models that keep a blob name in a `blob` field, registered by their apps' ready():
# core may not import them (the layers), and the sweep must know every one of them, or it
# would take their files for orphans.
_BLOB_MODELS: list[type[models.Model]] = []


def attachment_blob_model_register(model: type[models.Model]) -> None:
    """For an app's ready(): rows of `model` keep a blob in their `blob` field. Its file
    goes when its row goes (blob_delete_with_row), the orphan sweep counts it as in use,
    and a key rotation's re-encryption rewrites it."""
    if model not in _BLOB_MODELS:
        _BLOB_MODELS.append(model)
    post_delete.connect(
        blob_delete_with_row, sender=model, dispatch_uid=f"{model._meta.label}-blob"
    )


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


# --- Upkeep: orphaned files, files gone missing, re-encryption after a key rotation -------

# A file younger than this is never taken for an orphan: a blob is written before the row
# that names it commits, and a transaction may still be open. A day is far longer than any.
ORPHAN_GRACE = timedelta(days=1)
# Beat's daily sweep: a quiet hour, after mailsync's retention run (03:30) has deleted its
# rows and their files.
SWEEP_AT_UTC = time(4, 30)


@dataclass
class SweepReport:
    files: int = 0  # files looked at
    orphans: int = 0  # unreferenced and older than the grace period: removed (or would be)
    recent_unreferenced: int = 0  # unreferenced but too young to judge: kept
    missing: int = 0  # rows whose file is not in storage (kept: counted and logged by id)


def _blob_models() -> list[type[models.Model]]:
    if not _BLOB_MODELS:
        # Without the registry every file would look like an orphan.
        raise ImproperlyConfigured("No model registered attachment blobs: refusing to sweep.")
    return _BLOB_MODELS


def _rows_in_shard(model: type[models.Model], shard: str) -> models.QuerySet[Any]:
    """Rows whose blob lies under the top-level directory `shard` ("" for the top level's
    own files): the sweep holds one shard's names at a time, not the whole table's."""
    rows = model._default_manager.exclude(blob="")
    if shard:
        return rows.filter(blob__startswith=f"{shard}/")
    return rows.exclude(blob__contains="/")


def _files_under(storage: Storage, directory: str) -> Iterator[str]:
    directories, files = storage.listdir(directory)
    for name in files:
        yield posixpath.join(directory, name)
    for sub in directories:
        yield from _files_under(storage, posixpath.join(directory, sub))


def _log_missing(model: type[models.Model], pks: list[Any]) -> None:
    # By id only: a blob's name says nothing, but rows are what an operator looks up.
    for pk in sorted(pks):
        logger.warning("attachment file missing: %s id=%s", model._meta.label, pk)


def attachment_blobs_sweep(
    *, older_than: timedelta = ORPHAN_GRACE, dry_run: bool = False
) -> SweepReport:
    """Remove files that no row names (a transaction rolled back after its blob was written,
    or a process died between a delete's commit and its file's removal) once they are older
    than `older_than`; count, and log by id, rows whose file is missing. Rows are never
    touched. Works through the Storage API alone (listdir, get_modified_time), so on a
    directory and on a bucket alike."""
    storage = _storage()
    blob_models = _blob_models()
    cutoff = timezone.now() - older_than
    report = SweepReport()
    try:
        shards, top_files = storage.listdir("")
    except FileNotFoundError:  # a directory storage nothing was ever written to
        shards, top_files = [], []
    for shard in ["", *shards]:
        # Rows first, files second: a row seen here committed after its file was written,
        # so its file is listed below unless it is really gone. A file written after the
        # rows were read is unreferenced here, but younger than the cutoff.
        named = {
            model: dict(_rows_in_shard(model, shard).values_list("blob", "pk"))
            for model in blob_models
        }
        files = set(top_files) if not shard else set(_files_under(storage, shard))
        report.files += len(files)
        referenced = set().union(*named.values())
        for name in sorted(files - referenced):
            # Only unreferenced files cost a look at their age (a request each on S3).
            # An old file never becomes referenced again: new rows name new blobs.
            if storage.get_modified_time(name) > cutoff:
                report.recent_unreferenced += 1
                continue
            report.orphans += 1
            if not dry_run:
                storage.delete(name)
        for model, rows in named.items():
            gone = [pk for blob, pk in rows.items() if blob not in files]
            report.missing += len(gone)
            _log_missing(model, gone)
    # Rows under a top-level directory that does not exist at all (a bucket has no empty
    # "directories"): their files are missing too.
    for model in blob_models:
        elsewhere = model._default_manager.exclude(blob="").filter(blob__contains="/")
        for shard in shards:
            elsewhere = elsewhere.exclude(blob__startswith=f"{shard}/")
        gone = list(elsewhere.values_list("pk", flat=True))
        report.missing += len(gone)
        _log_missing(model, gone)
    logger.info(
        "attachment sweep%s: %d files, %d orphans %s, %d unreferenced but recent, %d rows "
        "missing their file",
        " (dry run)" if dry_run else "",
        report.files,
        report.orphans,
        "to remove" if dry_run else "removed",
        report.recent_unreferenced,
        report.missing,
    )
    return report


@dataclass
class ReencryptReport:
    rewritten: int = 0  # now under the first key
    current: int = 0  # already under the first key: left as it was
    missing: int = 0  # the row's file is not in storage
    unreadable: int = 0  # no configured key decrypts it
    changed_meanwhile: int = 0  # the row went or changed while its file was rewritten


REENCRYPT_BATCH = 100


def _blob_reencrypt(model: type[models.Model], pk: Any, name: str, report: ReencryptReport) -> None:
    storage = _storage()
    try:
        with storage.open(name, "rb") as stored:
            token = base64.urlsafe_b64encode(stored.read())
    except FileNotFoundError:
        report.missing += 1
        logger.warning("attachment file missing: %s id=%s", model._meta.label, pk)
        return
    try:
        rotated = token_rotate_to_first_key(token)
    except InvalidToken:
        report.unreadable += 1
        logger.error(
            "attachment file readable with no configured key: %s id=%s", model._meta.label, pk
        )
        return
    if rotated is None:
        report.current += 1
        return
    # A new blob rather than an overwrite: storages do not promise an atomic replace, and a
    # row must never name a half-written file. A crash before the update leaves the new file
    # to the orphan sweep; after it, the old one.
    new_name = _token_save(base64.urlsafe_b64decode(rotated))
    with transaction.atomic():
        # Conditional: a row deleted or changed meanwhile keeps what it has.
        updated = model._default_manager.filter(pk=pk, blob=name).update(blob=new_name)
        left = name if updated else new_name
        transaction.on_commit(functools.partial(attachment_blob_delete, left), robust=True)
    if updated:
        report.rewritten += 1
    else:
        report.changed_meanwhile += 1


def attachment_blobs_reencrypt(*, batch_size: int = REENCRYPT_BATCH) -> ReencryptReport:
    """After a key rotation (a new key first in FIELD_ENCRYPTION_KEY): rewrite every stored
    file under the first key, so that the older keys can then be dropped. Idempotent, and
    resumable by rerunning: files already under the first key are read but not rewritten,
    and each rewritten row commits on its own."""
    report = ReencryptReport()
    for model in _blob_models():
        with_blob = model._default_manager.exclude(blob="")
        for batch in pk_batches(with_blob, "blob", batch_size=batch_size):
            for pk, name in batch:
                _blob_reencrypt(model, pk, name, report)
    logger.info(
        "attachment re-encryption: %d rewritten, %d already current, %d missing, %d "
        "unreadable, %d changed meanwhile",
        report.rewritten,
        report.current,
        report.missing,
        report.unreadable,
        report.changed_meanwhile,
    )
    return report
