"""Django admin follows the same policy: Admins work on their organisation's data but
cannot change Super-Admin-only settings or Super Admins."""

from django.urls import reverse

from accounts.models import Role, User


def _new_user_form(role: str) -> dict:
    return {
        "email": "new@acme.test",
        "full_name": "New",
        "role": role,
        "usable_password": "true",
        "password1": "a good long passphrase",
        "password2": "a good long passphrase",
    }


def test_admin_sees_the_organisation_read_only(team, client_for):
    url = reverse("admin:accounts_organisation_change", args=[team.organisation.pk])
    client = client_for(team.admin)

    page = client.get(url)
    post = client.post(
        url,
        {
            "name": "Renamed",
            "slug": "acme",
            "email_provider": "microsoft",
            "microsoft_authorization_mode": "users",
        },
    )

    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()
    assert post.status_code == 403
    team.organisation.refresh_from_db()
    assert team.organisation.email_provider == "google"


def test_super_admin_changes_the_organisation_in_admin(team, client_for):
    url = reverse("admin:accounts_organisation_change", args=[team.organisation.pk])

    response = client_for(team.super_admin).post(
        url,
        {
            "name": "Renamed",
            "slug": "acme",
            "email_provider": "microsoft",
            "microsoft_authorization_mode": "users",
        },
    )

    assert response.status_code == 302
    team.organisation.refresh_from_db()
    assert team.organisation.email_provider == "microsoft"


def test_admin_cannot_create_a_super_admin(team, client_for):
    response = client_for(team.admin).post(
        reverse("admin:accounts_user_add"),
        _new_user_form(Role.SUPER_ADMIN),
    )

    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="new@acme.test").exists()


def test_admin_adds_a_team_member_to_their_own_organisation(team, client_for):
    response = client_for(team.admin).post(
        reverse("admin:accounts_user_add"),
        _new_user_form(Role.TEAM_MEMBER),
    )

    assert response.status_code == 302
    created = User.objects.get(email="new@acme.test")
    assert created.organisation == team.organisation
    assert created.role == Role.TEAM_MEMBER


def test_admin_cannot_edit_a_super_admin(team, client_for):
    url = reverse("admin:accounts_user_change", args=[team.super_admin.pk])

    response = client_for(team.admin).post(
        url, {"email": team.super_admin.email, "full_name": "X", "role": Role.TEAM_MEMBER}
    )

    assert response.status_code == 403
    team.super_admin.refresh_from_db()
    assert team.super_admin.role == Role.SUPER_ADMIN


def test_admin_role_choices_leave_out_super_admin(team, client_for):
    page = client_for(team.admin).get(reverse("admin:accounts_user_add"))

    choices = [value for value, _ in page.context["adminform"].form.fields["role"].choices]
    assert Role.SUPER_ADMIN not in choices
    assert Role.LIMITED_TEAM_MEMBER in choices


def test_admin_search_and_filters_work_on_candidates(team, client_for):
    client = client_for(team.admin)
    url = reverse("admin:candidates_candidate_changelist")

    found = client.get(url, {"q": "grace@acme"})
    filtered = client.get(url, {"applications__posting__id__exact": team.my_posting.pk})

    assert [c.full_name for c in found.context["cl"].result_list] == ["Grace Hidden"]
    assert [c.full_name for c in filtered.context["cl"].result_list] == ["Ada Visible"]


def test_team_member_is_refused_from_admin_pages_and_posts(team, client_for):
    client = client_for(team.team_member)

    response = client.post(
        reverse("admin:accounts_user_change", args=[team.team_member.pk]),
        {"email": team.team_member.email, "role": Role.SUPER_ADMIN},
    )

    assert response.status_code == 403
    team.team_member.refresh_from_db()
    assert team.team_member.role == Role.TEAM_MEMBER
