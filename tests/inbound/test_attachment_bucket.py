"""Attachments in an S3-compatible bucket (production's set-up), against a local S3 server:
moto in server mode on loopback, spoken to over HTTP by django-storages and boto3."""

import base64

import boto3
import pytest
from django.urls import reverse
from moto.server import ThreadedMotoServer

from candidates.models import EmailAttachment
from config.settings.base import attachment_storage

BUCKET = "threadline-attachments"
CV = b"%PDF-1.4 " + bytes(range(256)) * 40


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    """A new bucket, and the attachments storage pointed at it as production settings
    would point it with ATTACHMENT_STORAGE_BUCKET and ATTACHMENT_STORAGE_ENDPOINT_URL."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ATTACHMENT_STORAGE_ENDPOINT_URL": s3_endpoint,
        "ATTACHMENT_STORAGE_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    in_bucket = attachment_storage(BUCKET, settings.ATTACHMENT_STORAGE_DIR)
    settings.STORAGES = {**settings.STORAGES, "attachments": in_bucket}
    yield s3
    for stored in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=stored["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def _objects(s3) -> dict[str, bytes]:
    keys = [stored["Key"] for stored in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def test_a_reply_s_attachment_is_kept_encrypted_in_the_bucket_and_downloads_whole(
    routed, bucket, client_for, django_capture_on_commit_callbacks
):
    response = routed.post(routed.candidate_reply(attachment=("cv-ada.pdf", CV)))
    assert response.status_code == 200
    attachment = EmailAttachment.objects.get(message__thread=routed.thread)

    stored = _objects(bucket)
    download = client_for(routed.recruiter).get(
        reverse("candidates:attachment", args=[routed.candidate.pk, attachment.pk])
    )

    assert list(stored) == [attachment.blob]
    assert "cv-ada" not in attachment.blob
    assert CV[:64] not in stored[attachment.blob]
    assert base64.b64encode(CV)[:64] not in stored[attachment.blob]
    assert download.status_code == 200
    assert download.content == CV

    with django_capture_on_commit_callbacks(execute=True):
        client_for(routed.recruiter).post(
            reverse("mailsync:message_remove", args=[routed.candidate.pk, attachment.message_id])
        )
    assert _objects(bucket) == {}
