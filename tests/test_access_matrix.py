"""Every page by every role: 200 where the role may use it, 403 where it may not, 404 where
the record is hidden from that role, and the sign-in page for anonymous visitors."""

import pytest
from django.urls import reverse

from accounts.models import User

ROLES = ["super_admin", "admin", "team_member", "limited"]

# (name, url builder, expected status for super_admin, admin, team_member, limited)
PAGES = [
    ("candidate list", lambda t: reverse("candidates:list"), (200, 200, 200, 200)),
    ("add candidate", lambda t: reverse("candidates:create"), (200, 200, 200, 403)),
    (
        "profile on my posting",
        lambda t: reverse("candidates:detail", args=[t.candidate_on_my_posting.pk]),
        (200, 200, 200, 200),
    ),
    (
        "profile on another posting",
        lambda t: reverse("candidates:detail", args=[t.candidate_elsewhere.pk]),
        (200, 200, 200, 404),
    ),
    (
        "emails tab on another posting",
        lambda t: reverse("mailsync:emails", args=[t.candidate_elsewhere.pk]),
        (200, 200, 200, 404),
    ),
    (
        "interviews tab on my posting",
        lambda t: reverse("interviews:list", args=[t.candidate_on_my_posting.pk]),
        (200, 200, 200, 200),
    ),
    (
        "interviews tab on another posting",
        lambda t: reverse("interviews:list", args=[t.candidate_elsewhere.pk]),
        (200, 200, 200, 404),
    ),
    (
        # Nobody in this team has Calendar connected: the form is refused with the reason.
        "schedule interview without a calendar",
        lambda t: reverse("interviews:schedule", args=[t.candidate_on_my_posting.pk]),
        (403, 403, 403, 403),
    ),
    (
        "schedule interview on another posting",
        lambda t: reverse("interviews:schedule", args=[t.candidate_elsewhere.pk]),
        (403, 403, 403, 404),
    ),
    (
        "addresses on another posting",
        lambda t: reverse("candidates:add_email", args=[t.candidate_elsewhere.pk]),
        (200, 200, 200, 404),
    ),
    (
        "edit profile on my posting",
        lambda t: reverse("candidates:edit", args=[t.candidate_on_my_posting.pk]),
        (200, 200, 200, 200),
    ),
    (
        "edit profile on another posting",
        lambda t: reverse("candidates:edit", args=[t.candidate_elsewhere.pk]),
        (200, 200, 200, 404),
    ),
    ("my account", lambda t: reverse("mailsync:my_account"), (200, 200, 200, 200)),
    ("add from mailbox", lambda t: reverse("mailsync:mailbox_threads"), (200, 200, 200, 200)),
    (
        "candidate typeahead",
        lambda t: reverse("mailsync:mailbox_thread_candidates") + "?candidate_search=a",
        (200, 200, 200, 200),
    ),
    (
        "person suggestions for compose",
        lambda t: reverse("mailsync:person_suggestions", args=["to"]) + "?to=ad",
        (200, 200, 200, 200),
    ),
    (
        "person suggestions for add candidate",
        lambda t: reverse("mailsync:person_suggestions", args=["candidate"]) + "?full_name=ad",
        (200, 200, 200, 403),
    ),
    ("company settings", lambda t: reverse("inbound:company_settings"), (200, 403, 403, 403)),
    ("admin index", lambda t: reverse("admin:index"), (200, 200, 403, 403)),
    (
        "admin candidates",
        lambda t: reverse("admin:candidates_candidate_changelist"),
        (200, 200, 403, 403),
    ),
    (
        "admin organisation",
        lambda t: reverse("admin:accounts_organisation_change", args=[t.organisation.pk]),
        (200, 200, 403, 403),
    ),
    ("admin add user", lambda t: reverse("admin:accounts_user_add"), (200, 200, 403, 403)),
    (
        "admin beat schedules (operators only)",
        lambda t: reverse("admin:django_celery_beat_periodictask_changelist"),
        (403, 403, 403, 403),
    ),
]


@pytest.mark.parametrize("role_index,role", list(enumerate(ROLES)))
@pytest.mark.parametrize("name,url,expected", PAGES, ids=[p[0] for p in PAGES])
def test_role_gets_designed_status_for_page(
    team, client_for, role_index, role, name, url, expected
):
    response = client_for(team.by_role(role)).get(url(team))

    assert response.status_code == expected[role_index], f"{role} on {name}"


@pytest.mark.parametrize("name,url,expected", PAGES, ids=[p[0] for p in PAGES])
def test_anonymous_visitor_is_sent_to_sign_in(team, client, name, url, expected):
    target = url(team)

    response = client.get(target)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_limited_member_lists_only_candidates_of_their_postings(team, client_for):
    response = client_for(team.limited).get(reverse("candidates:list"))

    names = [c.full_name for c in response.context["page"].object_list]
    assert names == ["Ada Visible"]
    assert "Grace Hidden" not in response.content.decode()


def test_team_member_lists_every_candidate_of_the_organisation(team, client_for):
    response = client_for(team.team_member).get(reverse("candidates:list"))

    names = {c.full_name for c in response.context["page"].object_list}
    assert names == {"Ada Visible", "Grace Hidden"}


def test_limited_member_cannot_search_their_way_to_a_hidden_candidate(team, client_for):
    response = client_for(team.limited).get(reverse("candidates:list"), {"q": "grace"})
    colleague = client_for(team.team_member).get(reverse("candidates:list"), {"q": "grace"})

    assert response.context["page"].paginator.count == 0
    # The search itself works: a Team Member finds her.
    assert [c.full_name for c in colleague.context["page"]] == ["Grace Hidden"]


def test_navigation_offers_only_pages_the_role_may_open(team, client_for):
    super_admin_page = client_for(team.super_admin).get(reverse("candidates:list")).content
    member_page = client_for(team.team_member).get(reverse("candidates:list")).content

    assert reverse("inbound:company_settings").encode() in super_admin_page
    assert reverse("admin:index").encode() in super_admin_page
    assert reverse("inbound:company_settings").encode() not in member_page
    assert reverse("admin:index").encode() not in member_page


def test_operator_without_organisation_sees_no_candidates_in_the_app(team, client_for):
    from accounts.models import User

    operator = User.objects.create_superuser("ops@installation.test", "pw-irrelevant")

    assert client_for(operator).get(reverse("candidates:list")).status_code == 403
    assert client_for(operator).get(reverse("admin:index")).status_code == 200


def test_only_operators_see_the_encryption_canary_in_admin(team, client_for):
    from accounts.models import User

    operator = User.objects.create_superuser("ops@installation.test", "pw-irrelevant")
    url = reverse("admin:core_encryptioncanary_changelist")

    assert client_for(operator).get(url).status_code == 200
    assert client_for(team.super_admin).get(url).status_code == 403


def test_a_member_page_is_given_the_signed_in_user_itself(team, client_for):
    """member_required hands the view the user it loaded, not the lazy proxy Django's
    middleware puts on the request: every attribute read through that proxy raises and
    catches an exception, and a page reads the user's role hundreds of times."""
    response = client_for(team.team_member).get(reverse("candidates:list"))

    assert response.status_code == 200
    assert type(response.wsgi_request.user) is User
    assert response.wsgi_request.user.pk == team.team_member.pk
