"""Attachments in an S3-compatible bucket (production's set-up), against a local S3 server
(the `bucket` fixture)."""

import base64

from django.urls import reverse

from candidates.models import EmailAttachment
from tests.attachment_bucket import bucket_objects

CV = b"%PDF-1.4 " + bytes(range(256)) * 40


def test_a_reply_s_attachment_is_kept_encrypted_in_the_bucket_and_downloads_whole(
    routed, bucket, client_for, django_capture_on_commit_callbacks
):
    response = routed.post(routed.candidate_reply(attachment=("cv-ada.pdf", CV)))
    assert response.status_code == 200
    attachment = EmailAttachment.objects.get(message__thread=routed.thread)

    stored = bucket_objects(bucket)
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
    assert bucket_objects(bucket) == {}
