"""A message removed from Threadline does not come back as a routed copy (limited sync),
and mail arriving after the removal still does."""

from django.urls import reverse

from candidates.models import EmailAttachment, EmailMessage, EmailThread
from inbound.models import DailyTally
from mailsync.models import RemovedMessage


def _remove(routed, client_for, message: EmailMessage):
    return client_for(routed.recruiter).post(
        reverse("mailsync:message_remove", args=[routed.candidate.pk, message.pk])
    )


def test_a_routed_copy_of_a_removed_reply_is_dropped(routed, client_for):
    raw = routed.candidate_reply(attachment=("portfolio.pdf", b"%PDF-1.4 portfolio"))
    assert routed.post(raw).json()["status"] == "stored"
    reply = routed.stored().get()

    assert _remove(routed, client_for, reply).status_code == 302
    tombstone = RemovedMessage.objects.get(candidate=routed.candidate)
    assert tombstone.mailbox is None  # no mailbox held it: kept out by its Message-ID alone
    assert not EmailAttachment.objects.exists()

    again = routed.post(raw)

    assert again.status_code == 200
    assert again.json() == {"status": "dropped", "reason": "removed from Threadline"}
    assert not routed.stored().exists()
    assert EmailThread.objects.filter(candidate=routed.candidate).count() == 1
    dropped = DailyTally.objects.get(organisation=routed.organisation, outcome="dropped")
    assert dropped.count == 1

    later = routed.post(routed.candidate_reply(body="One more thing."))

    assert later.json()["status"] == "stored"
    assert routed.stored().get().body_text.strip() == "One more thing."


def test_a_routed_reply_to_a_removed_thread_is_dropped(routed, client_for):
    response = client_for(routed.recruiter).post(
        reverse("mailsync:thread_remove", args=[routed.candidate.pk, routed.thread.pk])
    )
    assert response.status_code == 302

    reply = routed.post(routed.candidate_reply())

    assert reply.json()["status"] == "dropped"
    assert not EmailThread.objects.filter(candidate=routed.candidate).exists()
    assert not EmailMessage.objects.exists()
