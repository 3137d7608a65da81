import uuid

from django.urls import reverse

from core.reversing import reverse_each


def test_reverse_each_gives_what_reverse_gives_for_int_and_uuid_ids():
    candidate_id = uuid.uuid4()
    message_url = reverse_each("mailsync:message_remove", candidate_id, last=int)
    thread_url = reverse_each("mailsync:email_reply", candidate_id, last=uuid.UUID)
    for message_id in (1, 2, 9, 10, 12345, 2**40):
        assert message_url(message_id) == reverse(
            "mailsync:message_remove", args=[candidate_id, message_id]
        )
    for thread_id in (uuid.uuid4() for _ in range(20)):
        assert thread_url(thread_id) == reverse(
            "mailsync:email_reply", args=[candidate_id, thread_id]
        )
