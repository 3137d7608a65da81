"""A member of one organisation never sees, finds or guesses another organisation's records."""

import uuid

import pytest
from django.urls import reverse

ROLES = ["super_admin", "admin", "team_member", "limited"]


@pytest.mark.parametrize("role", ROLES)
def test_other_organisations_profiles_are_not_found(team, other_team, client_for, role):
    client = client_for(team.by_role(role))

    for candidate in (other_team.candidate_on_my_posting, other_team.candidate_elsewhere):
        assert client.get(reverse("candidates:detail", args=[candidate.pk])).status_code == 404
        assert client.get(reverse("mailsync:emails", args=[candidate.pk])).status_code == 404
        response = client.post(
            reverse("candidates:add_email", args=[candidate.pk]), {"email": "x@example.com"}
        )
        assert response.status_code == 404
    assert not other_team.candidate_elsewhere.emails.filter(address="x@example.com").exists()


@pytest.mark.parametrize("role", ROLES)
def test_a_made_up_id_is_not_found(team, client_for, role):
    response = client_for(team.by_role(role)).get(reverse("candidates:detail", args=[uuid.uuid4()]))

    assert response.status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_search_never_reaches_into_another_organisation(team, other_team, client_for, role):
    response = client_for(team.by_role(role)).get(
        reverse("candidates:list"), {"q": "globex-candidates"}
    )
    insider = client_for(other_team.by_role(role)).get(
        reverse("candidates:list"), {"q": "globex-candidates"}
    )

    assert response.context["page"].paginator.count == 0
    # The same search inside that organisation does find its candidates.
    assert insider.context["page"].paginator.count >= 1


@pytest.mark.parametrize("role", ["super_admin", "admin"])
def test_admin_lists_only_own_organisation(team, other_team, client_for, role):
    client = client_for(team.by_role(role))

    changelist = client.get(reverse("admin:candidates_candidate_changelist"))
    users = client.get(reverse("admin:accounts_user_changelist"))
    other_profile = client.get(
        reverse("admin:candidates_candidate_change", args=[other_team.candidate_elsewhere.pk])
    )

    assert {c.organisation_id for c in changelist.context["cl"].result_list} == {
        team.organisation.pk
    }
    assert {u.organisation_id for u in users.context["cl"].result_list} == {team.organisation.pk}
    # Django admin answers a row outside the queryset with "does not exist" and a redirect.
    assert other_profile.status_code == 302
    assert other_profile["Location"] == reverse("admin:index")


def test_same_address_may_belong_to_candidates_of_two_organisations(team, other_team, client_for):
    address = team.candidate_on_my_posting.emails.get().address

    response = client_for(other_team.team_member).post(
        reverse("candidates:add_email", args=[other_team.candidate_elsewhere.pk]),
        {"email": address},
    )

    assert response.status_code == 302
    assert other_team.candidate_elsewhere.emails.filter(address=address).exists()


def test_malformed_ids_and_page_numbers_never_cause_errors(team, client_for):
    client = client_for(team.team_member)

    assert client.get("/candidates/not-a-uuid/").status_code == 404
    assert client.get("/candidates/12345/emails/").status_code == 404
    listing = client.get(reverse("candidates:list"), {"page": "abc"})
    beyond = client.get(reverse("candidates:list"), {"page": "9999"})
    assert listing.status_code == beyond.status_code == 200
    assert listing.context["page"].number == 1
    assert beyond.context["page"].number == beyond.context["page"].paginator.num_pages
