import pytest
from django.urls import reverse

from candidates.models import Candidate, CandidateEmail
from tests.factories import CandidateFactory


@pytest.fixture
def many_candidates(team):
    return [
        CandidateFactory(organisation=team.organisation, full_name=f"Person {n:02d}")
        for n in range(60)
    ]


def test_recruiter_pages_through_the_candidate_list_with_constant_queries(
    team, many_candidates, client_for, django_assert_max_num_queries
):
    client = client_for(team.team_member)

    with django_assert_max_num_queries(8):
        first = client.get(reverse("candidates:list"))
    with django_assert_max_num_queries(8):
        third = client.get(reverse("candidates:list"), {"page": 3})

    assert first.context["page"].paginator.count == 62
    assert len(first.context["page"].object_list) == 25
    assert len(third.context["page"].object_list) == 12
    assert "Page 1 of 3" in first.content.decode()


def test_recruiter_finds_a_candidate_by_any_part_of_an_address(team, client_for):
    response = client_for(team.team_member).get(
        reverse("candidates:list"), {"q": "GRACE@acme-candidates"}
    )

    assert [c.full_name for c in response.context["page"].object_list] == ["Grace Hidden"]


def test_search_by_name_lists_a_candidate_once_even_with_two_matching_addresses(team, client_for):
    ada = team.candidate_on_my_posting
    CandidateEmail.objects.create(
        organisation=team.organisation, candidate=ada, address="ada.second@acme-candidates.test"
    )

    response = client_for(team.team_member).get(reverse("candidates:list"), {"q": "ada"})

    assert [c.pk for c in response.context["page"].object_list] == [ada.pk]


def test_htmx_search_returns_only_the_results_fragment(team, client_for):
    response = client_for(team.team_member).get(
        reverse("candidates:list"), {"q": "ada"}, headers={"HX-Request": "true"}
    )

    body = response.content.decode()
    assert "Ada Visible" in body
    assert "<html" not in body
    assert 'id="search"' not in body


def test_profile_shows_addresses_postings_and_an_empty_emails_tab(team, client_for):
    ada = team.candidate_on_my_posting
    client = client_for(team.team_member)

    profile = client.get(reverse("candidates:detail", args=[ada.pk])).content.decode()
    emails_tab = client.get(
        reverse("mailsync:emails", args=[ada.pk]),
        headers={"HX-Request": "true", "HX-Target": "profile-tab"},
    ).content.decode()

    assert "ada@acme-candidates.test" in profile
    assert "Platform Engineer" in profile
    assert "No emails with Ada Visible yet" in emails_tab
    assert "<html" not in emails_tab


def test_limited_member_sees_only_their_postings_on_a_shared_candidate(team, client_for):
    ada = team.candidate_on_my_posting
    from candidates.models import Application

    Application.objects.create(candidate=ada, posting=team.other_posting)

    body = client_for(team.limited).get(reverse("candidates:detail", args=[ada.pk])).content

    assert b"Platform Engineer" in body
    assert b"Sales Lead" not in body


def test_recruiter_adds_a_candidate_with_a_normalised_address(team, client_for):
    response = client_for(team.team_member).post(
        reverse("candidates:create"),
        {
            "full_name": "  Linus Example ",
            "email": "  Linus.Example@Example.COM ",
            "posting": team.my_posting.pk,
        },
    )

    candidate = Candidate.objects.get(full_name="Linus Example")
    assert response.status_code == 302
    assert response["Location"] == reverse("candidates:detail", args=[candidate.pk])
    assert candidate.emails.get().address == "linus.example@example.com"
    assert candidate.emails.get().is_primary
    assert list(candidate.postings.all()) == [team.my_posting]
    assert candidate.created_by == team.team_member


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"full_name": "", "email": "a@example.com"}, "full_name", "This field is required."),
        ({"full_name": "   ", "email": ""}, "full_name", "This field is required."),
        ({"full_name": "X", "email": "not an address"}, "email", "Enter a valid email address."),
        (
            {"full_name": "X", "email": "ADA@acme-candidates.test"},
            "email",
            "Another candidate already has this address.",
        ),
        ({"full_name": "X", "posting": "not-a-uuid"}, "posting", "is not a valid UUID"),
    ],
)
def test_invalid_new_candidate_shows_field_errors_and_saves_nothing(
    team, client_for, data, field, message
):
    before = Candidate.objects.count()

    response = client_for(team.team_member).post(reverse("candidates:create"), data)

    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert message in response.content.decode()
    assert Candidate.objects.count() == before


def test_posting_of_another_organisation_cannot_be_chosen(team, other_team, client_for):
    response = client_for(team.team_member).post(
        reverse("candidates:create"), {"full_name": "X", "posting": other_team.my_posting.pk}
    )

    assert "posting" in response.context["form"].errors


def test_recruiter_adds_a_second_address_with_htmx(team, client_for):
    ada = team.candidate_on_my_posting

    response = client_for(team.team_member).post(
        reverse("candidates:add_email", args=[ada.pk]),
        {"email": " Ada.Work@Company.Example "},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "ada.work@company.example" in response.content.decode()
    assert set(ada.emails.values_list("address", flat=True)) == {
        "ada@acme-candidates.test",
        "ada.work@company.example",
    }
    assert not ada.emails.get(address="ada.work@company.example").is_primary


@pytest.mark.parametrize(
    "address,message",
    [
        ("grace@acme-candidates.test", "Another candidate already has this address."),
        ("ADA@acme-candidates.test", "This address is already on the profile."),
        ("two@example.com, three@example.com", "Enter a valid email address."),
        ("", "This field is required."),
    ],
)
def test_adding_a_bad_address_shows_why(team, client_for, address, message):
    ada = team.candidate_on_my_posting

    response = client_for(team.team_member).post(
        reverse("candidates:add_email", args=[ada.pk]), {"email": address}
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert ada.emails.count() == 1


def test_limited_member_cannot_add_candidates(team, client_for):
    response = client_for(team.limited).post(reverse("candidates:create"), {"full_name": "X"})

    assert response.status_code == 403
    assert not Candidate.objects.filter(full_name="X").exists()


def test_outlook_users_are_told_that_import_covers_inbox_and_sent_items_only(team, client_for):
    ada = team.candidate_on_my_posting
    emails_tab = reverse("mailsync:emails", args=[ada.pk])
    google_page = client_for(team.team_member).get(emails_tab).content.decode()
    team.organisation.email_provider = "microsoft"
    team.organisation.save()

    outlook_page = client_for(team.team_member).get(emails_tab).content.decode()

    assert 'id="import-scope"' not in google_page
    assert "Inbox</strong> and <strong>Sent Items</strong> only" in outlook_page
