"""The profile history's one log: workspace events recorded through candidates.audit."""

import pytest

from candidates import audit
from tests.factories import CandidateFactory, EmailThreadFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_an_event_is_found_by_its_candidate_with_its_actor_and_counts_and_no_mail_content():
    thread = EmailThreadFactory(subject="Offer for Ada: salary 90k")
    other = EmailThreadFactory()
    actor = UserFactory(organisation=thread.organisation)
    audit.record(
        actor=actor,
        event=audit.Event.REMOVED_THREAD,
        candidate_id=thread.candidate_id,
        about=thread,
        counts={"messages": 3},
    )
    audit.record(
        actor=actor, event=audit.Event.SHARED, candidate_id=other.candidate_id, about=other
    )

    # Only the actor's: the factories' records are in the log too, as django-auditlog
    # records creating candidates, addresses and applications (candidates/models.py).
    [entry] = audit.entries_for_candidate(thread.candidate_id).filter(actor=actor)

    assert entry.actor == actor
    assert entry.additional_data == {
        "candidate": str(thread.candidate_id),
        "event": "removed_thread",
        "messages": 3,
    }
    assert audit.describe(entry) == "removed a thread from Threadline"
    assert "Offer" not in entry.object_repr and "salary" not in str(entry.changes)
    assert not audit.entries_for_candidate(CandidateFactory().pk).filter(actor=actor).exists()
