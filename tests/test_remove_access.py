"""Who may remove a thread or an email from Threadline: the owner, participants, Admins
and Super Admins, among the threads they may see. Anyone else who sees the thread is
refused (403); whoever cannot see it finds nothing (404). Each removal is audited without
mail content; the ⋯ menus offer it only to who may."""

import pytest
from django.urls import reverse

from accounts.models import Role
from candidates import audit
from candidates.models import EmailAttachment, EmailMessage, EmailThread
from mailsync.models import RemovedMessage
from mailsync.removal import RemovalRefused
from mailsync.selectors import removed_count_for
from mailsync.services import removed_mail_restore
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def participant(team):
    """A colleague who wrote on the team member's thread."""
    return UserFactory(
        organisation=team.organisation, role=Role.TEAM_MEMBER, email="participant@acme.test"
    )


def _thread(team, participant, visibility: str):
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting,
        owner=team.team_member,
        visibility=visibility,
        subject="Offer: salary 90k",
    )
    first = EmailMessageFactory(thread=thread, direction="outbound", sender=team.team_member)
    EmailAttachmentFactory(message=first)
    EmailMessageFactory(thread=thread, direction="outbound", sender=participant)
    EmailMessageFactory(thread=thread)  # the candidate's
    return thread


def _who(team, participant, other_team, name: str):
    return {
        "owner": team.team_member,
        "participant": participant,
        "other member": UserFactory(organisation=team.organisation, role=Role.TEAM_MEMBER),
        "limited": team.limited,
        "admin": team.admin,
        "super admin": team.super_admin,
        "other organisation": other_team.super_admin,
    }[name]


TEAM_THREAD = {
    "owner": 302,
    "participant": 302,
    "other member": 403,
    "limited": 403,
    "admin": 302,
    "super admin": 302,
    "other organisation": 404,
}
# A private thread is its owner's alone: nobody else finds it to remove it.
PRIVATE_THREAD = {name: 302 if name == "owner" else 404 for name in TEAM_THREAD}
EVERYONE = pytest.mark.parametrize(
    ("visibility", "who", "status"),
    [("team", who, status) for who, status in TEAM_THREAD.items()]
    + [("private", who, status) for who, status in PRIVATE_THREAD.items()],
)


@EVERYONE
def test_who_may_remove_a_thread(
    team, other_team, participant, client_for, visibility, who, status
):
    thread = _thread(team, participant, visibility)
    user = _who(team, participant, other_team, who)

    response = client_for(user).post(
        reverse("mailsync:thread_remove", args=[thread.candidate_id, thread.pk])
    )

    assert response.status_code == status
    assert EmailThread.objects.filter(pk=thread.pk).exists() == (status != 302)
    if status == 302:
        assert not EmailAttachment.objects.exists()
        assert RemovedMessage.objects.filter(removed_by=user).count() == 3
        [entry] = audit.entries_for_candidate(thread.candidate_id).exclude(actor=None)
        assert entry.actor == user
        assert entry.additional_data["event"] == "removed_thread"
        assert entry.additional_data["messages"] == 3
        assert "salary" not in entry.object_repr and "salary" not in str(entry.changes)
    else:
        assert thread.messages.count() == 3
        assert not RemovedMessage.objects.exists()
        assert not audit.entries_for_candidate(thread.candidate_id).exclude(actor=None).exists()


@EVERYONE
def test_who_may_remove_an_email(
    team, other_team, participant, client_for, visibility, who, status
):
    thread = _thread(team, participant, visibility)
    candidates_reply = thread.messages.get(direction="inbound")
    user = _who(team, participant, other_team, who)

    response = client_for(user).post(
        reverse("mailsync:message_remove", args=[thread.candidate_id, candidates_reply.pk])
    )

    assert response.status_code == status
    assert EmailMessage.objects.filter(pk=candidates_reply.pk).exists() == (status != 302)
    assert thread.messages.count() == (2 if status == 302 else 3)
    assert audit.entries_for_candidate(thread.candidate_id).exclude(actor=None).count() == (
        status == 302
    )


def test_removal_is_a_post(team, participant, client_for):
    thread = _thread(team, participant, "team")
    client = client_for(team.team_member)

    response = client.get(reverse("mailsync:thread_remove", args=[thread.candidate_id, thread.pk]))

    assert response.status_code == 405
    assert EmailThread.objects.filter(pk=thread.pk).exists()


def test_an_email_of_another_candidate_is_not_found_through_this_one(team, client_for):
    elsewhere = EmailThreadFactory(candidate=team.candidate_elsewhere, owner=team.admin)
    message = EmailMessageFactory(thread=elsewhere)

    response = client_for(team.admin).post(
        reverse("mailsync:message_remove", args=[team.candidate_on_my_posting.pk, message.pk])
    )

    assert response.status_code == 404
    assert EmailMessage.objects.filter(pk=message.pk).exists()


def test_removing_an_email_works_the_threads_activity_out_again(team, participant, client_for):
    thread = _thread(team, participant, "team")
    newest = thread.messages.order_by("-sent_at").first()
    assert newest.direction == "inbound"
    EmailThread.objects.filter(pk=thread.pk).update(
        last_message_at=newest.sent_at, last_inbound_at=newest.sent_at
    )

    client_for(team.team_member).post(
        reverse("mailsync:message_remove", args=[thread.candidate_id, newest.pk])
    )

    thread.refresh_from_db()
    remaining = thread.messages.order_by("-sent_at").first()
    assert thread.last_message_at == remaining.sent_at
    assert thread.last_outbound_at == remaining.sent_at
    assert thread.last_inbound_at is None


def test_htmx_removal_replaces_the_thread_with_a_note(team, participant, client_for):
    thread = _thread(team, participant, "team")

    response = client_for(team.admin).post(
        reverse("mailsync:thread_remove", args=[thread.candidate_id, thread.pk]),
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "HX-Retarget" not in response
    note = response.content.decode()
    assert 'role="status"' in note
    assert "3 emails were removed from Threadline" in note
    assert "No mailbox was changed" in note


def test_the_menus_offer_removal_only_to_who_may(team, participant, client_for):
    thread = _thread(team, participant, "team")
    tab = reverse("mailsync:emails", args=[thread.candidate_id])
    remove_thread = reverse("mailsync:thread_remove", args=[thread.candidate_id, thread.pk])

    for user, offered in [
        (team.team_member, True),
        (participant, True),
        (team.admin, True),
        (UserFactory(organisation=team.organisation, role=Role.TEAM_MEMBER), False),
        (team.limited, False),
    ]:
        page = client_for(user).get(tab).content.decode()
        assert ("Remove thread from Threadline" in page) == offered, user
        assert (remove_thread in page) == offered, user
        assert page.count("Remove email from Threadline") == (3 if offered else 0), user
        if offered:
            assert "Nothing changes in any mailbox" in page
            assert "The next sync will not bring" in page


def test_bringing_removed_mail_back_concerns_ones_own_mailbox_only(team, participant, client_for):
    thread = _thread(team, participant, "team")
    mine = MailboxConnectionFactory(user=team.team_member)
    theirs = MailboxConnectionFactory(user=participant)
    candidate = team.candidate_on_my_posting
    [first, second, third] = thread.messages.order_by("sent_at")
    for message, mailbox in [(first, mine), (second, theirs), (third, theirs), (third, mine)]:
        message.mailbox_copies.create(mailbox=mailbox, provider_message_id=f"id-{message.pk}")
    client_for(team.admin).post(
        reverse("mailsync:thread_remove", args=[thread.candidate_id, thread.pk])
    )
    assert RemovedMessage.objects.count() == 4

    assert removed_count_for(mailbox=mine, candidate_id=candidate.pk) == 2
    assert removed_count_for(mailbox=theirs, candidate_id=candidate.pk) == 2
    with pytest.raises(RemovalRefused):
        removed_mail_restore(actor=team.team_member, candidate=candidate, mailbox=theirs)
    with pytest.raises(RemovalRefused):
        removed_mail_restore(actor=team.limited, candidate=team.candidate_elsewhere, mailbox=mine)

    assert removed_mail_restore(actor=team.team_member, candidate=candidate, mailbox=mine) == 2

    # The first and third may come back (every copy's tombstone went); the second,
    # only ever in the participant's mailbox, stays out.
    left = RemovedMessage.objects.all()
    assert {t.message_id_digest for t in left} == {second.message_id_digest}
    assert removed_count_for(mailbox=mine, candidate_id=candidate.pk) == 0
    assert removed_count_for(mailbox=theirs, candidate_id=candidate.pk) == 1
