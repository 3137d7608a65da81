"""The operators' upkeep of attachment files: the daily sweep removes files no row names
once they are old enough to be sure no transaction will still name them, and counts rows
whose file is gone; after a key rotation, one command rewrites every file under the new
key, and running it again changes nothing."""

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from candidates.models import EmailAttachment
from core import attachment_storage
from core.attachment_storage import (
    attachment_blob_read,
    attachment_blob_write,
    attachment_blobs_reencrypt,
    attachment_blobs_sweep,
)
from mailsync.models import DraftAttachment
from tests.attachment_bucket import bucket_objects
from tests.factories import EmailAttachmentFactory

pytestmark = pytest.mark.django_db

CONTENT = bytes(range(256)) * 8 + os.urandom(1024)


def _age(directory: Path, blob: str, *, hours: float) -> None:
    """Make a stored file look last written `hours` ago."""
    then = time.time() - hours * 3600
    os.utime(directory / blob, (then, then))


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


def _draft_attachment(user, *, blob: str) -> DraftAttachment:
    return DraftAttachment.objects.create(user=user, filename="cv.pdf", size=3, blob=blob)


# --- The orphan sweep ---------------------------------------------------------------------


def test_the_sweep_removes_old_orphans_and_keeps_new_ones_and_every_referenced_file(
    team, attachment_files
):
    old_orphan = attachment_blob_write(b"a rolled-back ingestion's file")
    new_orphan = attachment_blob_write(b"a transaction still open")
    message_file = EmailAttachmentFactory().blob
    draft_file = _draft_attachment(team.team_member, blob=attachment_blob_write(b"cv")).blob
    for blob in (old_orphan, message_file, draft_file):
        _age(attachment_files, blob, hours=25)

    report = attachment_blobs_sweep()

    assert sorted(_files(attachment_files)) == sorted([new_orphan, message_file, draft_file])
    assert (report.files, report.orphans, report.recent_unreferenced, report.missing) == (
        4,
        1,
        1,
        0,
    )


def test_a_dry_run_counts_the_orphans_and_removes_nothing(attachment_files):
    orphan = attachment_blob_write(b"left behind")
    _age(attachment_files, orphan, hours=48)

    report = attachment_blobs_sweep(dry_run=True)

    assert report.orphans == 1
    assert list(_files(attachment_files)) == [orphan]


def test_rows_whose_file_is_missing_are_counted_and_logged_by_id_only(
    team, attachment_files, caplog
):
    lost = EmailAttachmentFactory()
    (attachment_files / lost.blob).unlink()
    # A blob whose whole top-level directory is gone (a bucket keeps no empty directories).
    lost_with_its_directory = _draft_attachment(team.team_member, blob="zz/never-written")
    kept = EmailAttachmentFactory()

    with caplog.at_level(logging.WARNING, logger="core.attachment_storage"):
        report = attachment_blobs_sweep()

    assert report.missing == 2
    assert report.orphans == 0
    assert list(_files(attachment_files)) == [kept.blob]
    # Rows are never touched by the sweep.
    assert EmailAttachment.objects.filter(pk=lost.pk).exists()
    assert DraftAttachment.objects.filter(pk=lost_with_its_directory.pk).exists()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"candidates.EmailAttachment id={lost.pk}" in logged
    assert f"mailsync.DraftAttachment id={lost_with_its_directory.pk}" in logged
    assert lost.blob not in logged and "never-written" not in logged
    assert lost.filename not in logged


def test_the_sweep_refuses_to_run_when_no_model_registered_its_blobs(attachment_files, monkeypatch):
    orphan = attachment_blob_write(b"would look like an orphan")
    _age(attachment_files, orphan, hours=48)
    monkeypatch.setattr(attachment_storage, "_BLOB_MODELS", [])

    with pytest.raises(ImproperlyConfigured):
        attachment_blobs_sweep()

    assert list(_files(attachment_files)) == [orphan]


def test_an_operator_sweeps_with_a_grace_period_of_their_choosing(attachment_files):
    three_hours = attachment_blob_write(b"three hours old")
    one_hour = attachment_blob_write(b"one hour old")
    _age(attachment_files, three_hours, hours=3)
    _age(attachment_files, one_hour, hours=1)

    call_command("attachments_sweep", "--older-than", "2", "--dry-run")
    assert sorted(_files(attachment_files)) == sorted([three_hours, one_hour])

    call_command("attachments_sweep", "--older-than", "2")
    assert list(_files(attachment_files)) == [one_hour]


def test_the_sweep_works_in_a_bucket(bucket):
    orphan = attachment_blob_write(b"left in the bucket")
    referenced = EmailAttachmentFactory().blob

    # An object's age comes from the bucket: nothing just written is old enough.
    assert attachment_blobs_sweep().orphans == 0
    assert sorted(bucket_objects(bucket)) == sorted([orphan, referenced])

    report = attachment_blobs_sweep(older_than=timedelta(0))

    assert report.orphans == 1
    assert list(bucket_objects(bucket)) == [referenced]


def test_beat_sweeps_daily_after_the_retention_run():
    from django_celery_beat.models import PeriodicTask

    entry = PeriodicTask.objects.get(task="core.tasks.sweep_attachment_blobs")
    assert entry.enabled and entry.interval is None
    assert (entry.crontab.hour, entry.crontab.minute, str(entry.crontab.timezone)) == (
        "4",
        "30",
        "UTC",
    )


# --- Re-encryption after a key rotation ---------------------------------------------------


@pytest.fixture
def keys(settings) -> tuple[str, str]:
    """Two keys, A and B; files written from here on are under A alone."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = old
    return old, new


def test_reencryption_rewrites_every_file_under_the_new_key(
    team, keys, settings, attachment_files, django_capture_on_commit_callbacks
):
    old, new = keys
    message_file = EmailAttachmentFactory(content=CONTENT)
    draft_file = _draft_attachment(team.team_member, blob=attachment_blob_write(b"a draft's cv"))
    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"

    with django_capture_on_commit_callbacks(execute=True):
        call_command("attachments_reencrypt")

    settings.FIELD_ENCRYPTION_KEY = new
    message_file.refresh_from_db()
    draft_file.refresh_from_db()
    assert attachment_blob_read(message_file.blob) == CONTENT
    assert attachment_blob_read(draft_file.blob) == b"a draft's cv"
    # The files under the old key are gone: only the rows' files are left.
    assert sorted(_files(attachment_files)) == sorted([message_file.blob, draft_file.blob])


def test_a_second_reencryption_changes_nothing(
    keys, settings, attachment_files, django_capture_on_commit_callbacks
):
    old, new = keys
    EmailAttachmentFactory.create_batch(3, content=CONTENT)
    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"
    with django_capture_on_commit_callbacks(execute=True):
        # Two rows a batch: the third is in a batch of its own.
        first = attachment_blobs_reencrypt(batch_size=2)
    stored = _files(attachment_files)

    with django_capture_on_commit_callbacks(execute=True):
        second = attachment_blobs_reencrypt(batch_size=2)

    assert (first.rewritten, first.current) == (3, 0)
    assert (second.rewritten, second.current) == (0, 3)
    assert _files(attachment_files) == stored


def test_a_file_no_configured_key_reads_is_counted_and_left(
    keys, settings, attachment_files, django_capture_on_commit_callbacks
):
    _old, new = keys
    unreadable = EmailAttachmentFactory().blob
    stored = _files(attachment_files)
    settings.FIELD_ENCRYPTION_KEY = new  # the old key dropped too early

    with django_capture_on_commit_callbacks(execute=True):
        report = attachment_blobs_reencrypt()

    assert (report.unreadable, report.rewritten) == (1, 0)
    assert _files(attachment_files) == stored
    with pytest.raises(InvalidToken):
        attachment_blob_read(unreadable)
