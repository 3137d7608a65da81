"""Gmail's message size limit: messages.send takes at most 35 MB (the discovery
document's mediaUpload.maxSize), and answers a larger message with Google's error."""

import base64
import json

import pytest
from googleapiclient.errors import HttpError

from sandbox.google import scopes
from sandbox.models import Message
from tests.sandbox.conftest import raw_message


def test_a_message_over_35_mb_is_refused_with_googles_error(
    recruiter, candidate, token_for, gmail_for
):
    recruiter_gmail = gmail_for(token_for(recruiter, scopes.MODIFY)).users()
    small = raw_message(sender=recruiter.address, to=candidate.address, subject="Too big")
    raw = small + b"A" * (36700160 + 1 - len(small))

    with pytest.raises(HttpError) as refused:
        recruiter_gmail.messages().send(
            userId="me", body={"raw": base64.urlsafe_b64encode(raw).decode()}
        ).execute()

    assert refused.value.resp.status == 413
    error = json.loads(refused.value.content)["error"]
    assert error["code"] == 413
    assert error["errors"][0]["reason"] == "uploadTooLarge"
    assert error["errors"][0]["domain"] == "global"
    assert not Message.objects.filter(mailbox=candidate).exists()
