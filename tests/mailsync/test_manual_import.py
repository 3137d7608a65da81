"""Import candidate email: the user's own past conversations with one candidate, on Gmail
and on Outlook; and why it is disabled under limited sync."""

from django.urls import reverse

from accounts.models import Organisation
from candidates.models import EmailThread
from sandbox.models import Message


def _import(world):
    return world.client.post(
        reverse("mailsync:email_import", args=[world.candidate.pk]), follow=True
    )


def test_import_brings_every_conversation_with_the_candidate(world):
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Referral", "Hi, Bob referred me.")
    world.reply(world.recruiter_box, world.candidate_address, "Thanks! Let's talk.")
    world.write(world.candidate_box, world.recruiter.email, "Portfolio", "Here it is.")
    other = world.write(world.recruiter_box, "someone@else.test", "Lunch", "Pizza?")

    response = _import(world)

    assert "Imported 3 new messages in 2 threads" in response.content.decode()
    threads = EmailThread.objects.filter(candidate=world.candidate)
    assert {t.subject for t in threads} == {"Referral", "Portfolio"}
    assert all(t.owner == world.recruiter and t.visibility == "private" for t in threads)
    page = response.content.decode()
    assert "Hi, Bob referred me." in page
    assert "Thanks! Let&#x27;s talk." in page or "Thanks! Let's talk." in page
    assert "Pizza?" not in page
    labelled = {
        m.subject
        for m in Message.objects.filter(mailbox=world.recruiter_box)
        if world.kit.own_label_on(m)
    }
    assert "Lunch" not in labelled
    assert other.subject == "Lunch"

    again = _import(world)

    assert "Imported 0 new messages" in again.content.decode()
    assert EmailThread.objects.filter(candidate=world.candidate).count() == 2


def test_later_replies_in_an_imported_thread_are_synced(world):
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Referral", "Hi, Bob referred me.")
    _import(world)

    world.reply(world.recruiter_box, world.candidate_address, "Happy to chat.")
    world.reply(world.candidate_box, world.recruiter.email, "Great, Monday?")
    report = world.sync()

    assert report.stored == 2
    thread = EmailThread.objects.get(candidate=world.candidate)
    assert thread.messages.count() == 3


def test_import_is_disabled_with_the_reason_under_limited_sync(world):
    organisation = world.team.organisation
    organisation.email_sync_level = Organisation.SyncLevel.LIMITED
    organisation.save(update_fields=["email_sync_level"])
    world.connect()
    world.write(world.candidate_box, world.recruiter.email, "Referral", "Hi, Bob referred me.")

    tab = world.client.get(reverse("mailsync:emails", args=[world.candidate.pk]))
    response = _import(world)

    assert 'disabled aria-describedby="import-unavailable"' in tab.content.decode()
    assert "Threadline has no permission to read mailboxes" in tab.content.decode()
    assert "no permission to read mailboxes" in response.content.decode()
    assert not EmailThread.objects.filter(candidate=world.candidate).exists()


def test_a_truncated_import_continues_where_it_stopped(world, settings):
    settings.MAILSYNC_IMPORT_MAX_MESSAGES = 2
    world.connect()
    for subject in ("One", "Two", "Three"):
        world.write(world.candidate_box, world.recruiter.email, subject, f"{subject} body")

    first = _import(world).content.decode()
    second = _import(world).content.decode()

    assert "Imported 2 new messages" in first
    assert "Only the most recent ones were imported" in first
    assert "Imported 1 new message " in second
    assert "Only the most recent" not in second
    assert EmailThread.objects.filter(candidate=world.candidate).count() == 3
