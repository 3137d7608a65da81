"""Attachments live outside the database, encrypted with the field-encryption keys: what is
on disk is neither the file nor its base64, a download gives back the exact bytes and only
to those who may see the message, and the file goes when its message goes."""

import base64
import os
import time

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from candidates.models import Candidate, EmailAttachment, EmailMessage, EmailThread
from core.attachment_storage import attachment_blob_read, attachment_blob_write
from mailsync.models import DraftAttachment
from mailsync.sending import draft_attachment_outgoing
from tests.factories import EmailAttachmentFactory, EmailMessageFactory, EmailThreadFactory

# Every byte value, and more than a Fernet block, so that no encoding step hides a loss.
CONTENT = bytes(range(256)) * 64 + os.urandom(4096)


def _url(attachment: EmailAttachment) -> str:
    return reverse(
        "candidates:attachment", args=[attachment.message.thread.candidate_id, attachment.pk]
    )


def _attachment_on(candidate, *, visibility=EmailThread.Visibility.TEAM, **fields):
    thread = EmailThreadFactory(candidate=candidate, visibility=visibility)
    return EmailAttachmentFactory(message=EmailMessageFactory(thread=thread), **fields)


def test_the_stored_file_is_neither_the_bytes_nor_their_base64(team, attachment_files):
    attachment = _attachment_on(
        team.candidate_on_my_posting, filename="ada-contract.pdf", content=CONTENT
    )

    stored = (attachment_files / attachment.blob).read_bytes()

    assert "ada-contract" not in attachment.blob
    assert [path for path in attachment_files.rglob("*") if path.is_file()] == [
        attachment_files / attachment.blob
    ]
    for plain in (CONTENT, base64.b64encode(CONTENT), base64.urlsafe_b64encode(CONTENT)):
        assert plain[:64] not in stored
    # Raw ciphertext: the Fernet token's fixed overhead, not base64's third on top.
    assert len(CONTENT) < len(stored) <= len(CONTENT) + 16 + 57


def test_a_member_downloads_the_exact_original_bytes(team, client_for):
    attachment = _attachment_on(team.candidate_on_my_posting, content=CONTENT)

    response = client_for(team.team_member).get(_url(attachment))

    assert response.status_code == 200
    assert response.content == CONTENT
    assert response["Content-Disposition"].startswith("attachment;")


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The blobs the download view read from storage."""
    import candidates.views

    read: list[str] = []

    def recording_read(name: str) -> bytes:
        read.append(name)
        return attachment_blob_read(name)

    monkeypatch.setattr(candidates.views, "attachment_blob_read", recording_read)
    return read


def test_a_member_who_may_not_see_the_message_gets_404_and_nothing_is_read(
    team, other_team, client_for, reads
):
    hidden = _attachment_on(team.candidate_elsewhere, content=CONTENT)
    private = _attachment_on(
        team.candidate_on_my_posting, visibility=EmailThread.Visibility.PRIVATE, content=CONTENT
    )
    visible = _attachment_on(team.candidate_on_my_posting, content=CONTENT)

    refused = [
        client_for(team.limited).get(_url(hidden)),  # a candidate they may not see
        client_for(team.team_member).get(_url(private)),  # someone else's private thread
        client_for(other_team.admin).get(_url(visible)),  # another organisation
    ]
    allowed = client_for(team.limited).get(_url(visible))

    assert [response.status_code for response in refused] == [404, 404, 404]
    assert not [response for response in refused if CONTENT in response.content]
    # Only the download the policy allowed reached the storage.
    assert allowed.status_code == 200
    assert reads == [visible.blob]


def test_the_owner_removing_a_message_deletes_its_file_and_no_other(
    team, client_for, attachment_files, django_capture_on_commit_callbacks
):
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    removed = EmailAttachmentFactory(message=EmailMessageFactory(thread=thread))
    kept = EmailAttachmentFactory(message=EmailMessageFactory(thread=thread))
    url = reverse("mailsync:message_remove", args=[thread.candidate_id, removed.message_id])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team.team_member).post(url)

    assert response.status_code in (200, 302)
    assert not EmailAttachment.objects.filter(pk=removed.pk).exists()
    assert not (attachment_files / removed.blob).exists()
    assert (attachment_files / kept.blob).exists()
    assert client_for(team.team_member).get(_url(kept)).content == b"%PDF-1.4 test document"


def test_a_cascade_from_a_queryset_delete_deletes_the_files(
    team, attachment_files, django_capture_on_commit_callbacks
):
    """Retention and purge delete with querysets: Django's collector still sends
    post_delete for each attachment row it cascades to."""
    first = _attachment_on(team.candidate_on_my_posting)
    second = _attachment_on(team.candidate_on_my_posting)
    elsewhere = _attachment_on(team.candidate_elsewhere)

    with django_capture_on_commit_callbacks(execute=True):
        Candidate.objects.filter(pk=team.candidate_on_my_posting.pk).delete()

    assert not (attachment_files / first.blob).exists()
    assert not (attachment_files / second.blob).exists()
    assert (attachment_files / elsewhere.blob).exists()


@pytest.mark.django_db(transaction=True)
def test_a_delete_that_rolls_back_keeps_the_file(team, attachment_files):
    attachment = _attachment_on(team.candidate_on_my_posting)
    message_id = attachment.message_id

    with pytest.raises(RuntimeError), transaction.atomic():
        EmailMessage.objects.get(pk=message_id).delete()
        raise RuntimeError("the removal failed half way")

    assert EmailAttachment.objects.filter(pk=attachment.pk).exists()
    assert (attachment_files / attachment.blob).exists()
    EmailMessage.objects.get(pk=message_id).delete()  # no transaction: the file goes at once
    assert not (attachment_files / attachment.blob).exists()


def test_a_blob_written_before_a_key_rotation_stays_readable(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old_key]
    before = attachment_blob_write(CONTENT)

    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    after = attachment_blob_write(b"written after the rotation")

    assert attachment_blob_read(before) == CONTENT
    settings.FIELD_ENCRYPTION_KEY = f"{new_key}"  # a single key, as a plain string
    assert attachment_blob_read(after) == b"written after the rotation"
    with pytest.raises(InvalidToken):
        attachment_blob_read(before)


@pytest.mark.parametrize("configured", ["", [], " , "])
def test_with_no_key_configured_nothing_is_written_or_read(settings, configured):
    """Neither a blob nor an encrypted field is written in the clear, or read, without a
    key: both refuse with the same configuration error."""
    stored = attachment_blob_write(CONTENT)
    settings.FIELD_ENCRYPTION_KEY = configured

    with pytest.raises(ImproperlyConfigured, match="no key is configured"):
        attachment_blob_write(CONTENT)
    with pytest.raises(ImproperlyConfigured, match="no key is configured"):
        attachment_blob_read(stored)


def test_a_stored_blob_is_a_fernet_token_under_the_first_key(settings, attachment_files):
    """The token is built to the Fernet specification rather than by Fernet (which gives
    it only as base64): Fernet itself must accept it, under the first key alone."""
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [first, second]

    stored = (attachment_files / attachment_blob_write(CONTENT)).read_bytes()
    token = base64.urlsafe_b64encode(stored)

    assert Fernet(first).decrypt(token) == CONTENT
    assert abs(Fernet(first).extract_timestamp(token) - time.time()) < 60
    with pytest.raises(InvalidToken):
        Fernet(second).decrypt(token)
    # A fresh IV each time: the same bytes never make the same file.
    assert (attachment_files / attachment_blob_write(CONTENT)).read_bytes() != stored
    # Every padding length, the empty file included.
    for size in range(0, 33):
        blob = attachment_blob_write(CONTENT[:size])
        assert (
            Fernet(first).decrypt(base64.urlsafe_b64encode((attachment_files / blob).read_bytes()))
            == CONTENT[:size]
        )


# --- The migration ------------------------------------------------------------------------

IN_THE_DATABASE = [("candidates", "0008_emailattachment_blob")]
IN_STORAGE = [("candidates", "0010_remove_emailattachment_content_b64")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_attachments_to_storage_and_back(team):
    message = EmailMessageFactory(thread=EmailThreadFactory(candidate=team.candidate_on_my_posting))
    try:
        old_apps = _migrate(IN_THE_DATABASE)
        old = old_apps.get_model("candidates", "EmailAttachment").objects.create(
            message_id=message.pk,
            filename="cv.pdf",
            size=len(CONTENT),
            content_b64=base64.b64encode(CONTENT).decode(),
        )

        _migrate(IN_STORAGE)
        moved = EmailAttachment.objects.get(pk=old.pk)
        assert moved.blob and attachment_blob_read(moved.blob) == CONTENT
        assert (moved.filename, moved.size) == ("cv.pdf", len(CONTENT))
        with connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(
                cursor, EmailAttachment._meta.db_table
            )
        assert "content_b64" not in [column.name for column in columns]

        back = _migrate(IN_THE_DATABASE).get_model("candidates", "EmailAttachment")
        assert base64.b64decode(back.objects.get(pk=old.pk).content_b64) == CONTENT
    finally:
        _migrate(_latest())


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_kept_draft_attachments_to_storage(team):
    try:
        old_apps = _migrate([("mailsync", "0011_draftattachment_blob")])
        old = old_apps.get_model("mailsync", "DraftAttachment").objects.create(
            user_id=team.team_member.pk,
            filename="cv.pdf",
            size=len(CONTENT),
            content_b64=base64.b64encode(CONTENT).decode(),
        )

        _migrate([("mailsync", "0013_remove_draftattachment_content_b64")])

        moved = DraftAttachment.objects.get(pk=old.pk)
        assert draft_attachment_outgoing(moved).content == CONTENT
    finally:
        _migrate(_latest())
