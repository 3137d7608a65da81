"""The profile as a place to work: editing the candidate's details, addresses and stages
(with the rules candidate creation follows), long threads collapsed, the tab highlight
following htmx, paging that keeps the reader's place, and allauth's pages in our layout."""

import re

import pytest
from auditlog.models import LogEntry
from django.core import mail
from django.urls import reverse

from candidates import audit
from candidates.models import Application, CandidateEmail
from tests.factories import CandidateFactory, EmailMessageFactory, EmailThreadFactory

HTMX = {"HX-Request": "true"}


def _edit(client, candidate, **data):
    fields = {"full_name": candidate.full_name, "headline": "", "location": ""} | data
    return client.post(reverse("candidates:edit", args=[candidate.pk]), fields)


# --- Name, headline, location --------------------------------------------------------------


def test_recruiter_edits_name_headline_and_location_trimmed(team, client_for):
    ada = team.candidate_on_my_posting

    response = _edit(
        client_for(team.team_member),
        ada,
        full_name="  Ada Lovelace ",
        headline=" Analyst ",
        location=" London ",
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("candidates:detail", args=[ada.pk])
    ada.refresh_from_db()
    assert (ada.full_name, ada.headline, ada.location) == ("Ada Lovelace", "Analyst", "London")


def test_recruiter_edits_in_place_with_htmx_and_gets_the_details_back(team, client_for):
    ada = team.candidate_on_my_posting
    client = client_for(team.team_member)

    form = client.get(reverse("candidates:edit", args=[ada.pk]), headers=HTMX)
    saved = client.post(
        reverse("candidates:edit", args=[ada.pk]),
        {"full_name": "Ada King", "headline": "Countess", "location": ""},
        headers=HTMX,
    )

    assert 'id="candidate-details"' in form.content.decode()
    assert 'value="Ada Visible"' in form.content.decode()
    assert "<html" not in form.content.decode()
    body = saved.content.decode()
    assert "<h1>Ada King</h1>" in body and "Countess" in body and "Saved." in body
    assert "<html" not in body


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"full_name": ""}, "full_name", "This field is required."),
        ({"full_name": "   "}, "full_name", "This field is required."),
        ({"full_name": "x" * 201}, "full_name", "at most 200 characters"),
        ({"location": "y" * 121}, "location", "at most 120 characters"),
    ],
)
def test_invalid_details_show_field_errors_and_change_nothing(
    team, client_for, data, field, message
):
    ada = team.candidate_on_my_posting

    response = _edit(client_for(team.team_member), ada, **data)

    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert message in response.content.decode()
    ada.refresh_from_db()
    assert ada.full_name == "Ada Visible"


def test_limited_member_edits_a_candidate_on_their_posting_but_not_another(team, client_for):
    client = client_for(team.limited)

    mine = _edit(client, team.candidate_on_my_posting, full_name="Ada Renamed")
    hidden = _edit(client, team.candidate_elsewhere, full_name="Grace Renamed")
    hidden_form = client.get(reverse("candidates:edit", args=[team.candidate_elsewhere.pk]))

    assert mine.status_code == 302
    assert hidden.status_code == 404
    assert hidden_form.status_code == 404
    team.candidate_elsewhere.refresh_from_db()
    assert team.candidate_elsewhere.full_name == "Grace Hidden"


def test_another_organisation_cannot_edit_or_even_find_the_candidate(team, other_team, client_for):
    ada = team.candidate_on_my_posting
    email = ada.emails.get()
    application = ada.applications.get()
    client = client_for(other_team.admin)

    answers = [
        _edit(client, ada, full_name="Taken over").status_code,
        client.post(reverse("candidates:remove_email", args=[ada.pk, email.pk])).status_code,
        client.post(reverse("candidates:make_primary_email", args=[ada.pk, email.pk])).status_code,
        client.post(
            reverse("candidates:application_stage", args=[ada.pk, application.pk]),
            {"stage": "offer"},
        ).status_code,
    ]

    assert answers == [404, 404, 404, 404]
    ada.refresh_from_db()
    assert ada.full_name == "Ada Visible"
    assert ada.emails.count() == 1
    assert Application.objects.get(pk=application.pk).stage == "new"


def test_edits_are_audited_with_who_and_what_changed_findable_by_candidate(team, client_for):
    ada = team.candidate_on_my_posting

    _edit(client_for(team.team_member), ada, full_name="Ada Byron", headline="Poet's daughter")

    entry = audit.entries_for_candidate(ada.pk).first()
    assert entry.actor == team.team_member
    assert entry.changes_dict["full_name"] == ["Ada Visible", "Ada Byron"]
    assert audit.describe(entry) == "changed the name, headline or location"


ROLES = ["super_admin", "admin", "team_member", "limited"]


def _each_change(team, candidate):
    """Every change the profile offers, on `candidate`, as POSTs."""
    email = candidate.emails.get()
    application = candidate.applications.get()
    return {
        "details": (reverse("candidates:edit", args=[candidate.pk]), {"full_name": "Renamed"}),
        "make primary": (
            reverse("candidates:make_primary_email", args=[candidate.pk, email.pk]),
            {},
        ),
        "stage": (
            reverse("candidates:application_stage", args=[candidate.pk, application.pk]),
            {"stage": "offer"},
        ),
        "remove address": (
            reverse("candidates:remove_email", args=[candidate.pk, email.pk]),
            {},
        ),
    }


@pytest.mark.parametrize("role", ROLES)
def test_each_role_changes_a_profile_exactly_where_it_sees_the_candidate(team, client_for, role):
    client = client_for(team.by_role(role))
    sees_grace = role != "limited"

    on_ada = {
        name: client.post(url, data).status_code
        for name, (url, data) in _each_change(team, team.candidate_on_my_posting).items()
    }
    on_grace = {
        name: client.post(url, data).status_code
        for name, (url, data) in _each_change(team, team.candidate_elsewhere).items()
    }

    assert on_ada == dict.fromkeys(on_ada, 302)
    assert on_grace == dict.fromkeys(on_grace, 302 if sees_grace else 404)
    team.candidate_elsewhere.refresh_from_db()
    assert (team.candidate_elsewhere.full_name == "Renamed") is sees_grace


# --- Addresses -----------------------------------------------------------------------------


@pytest.fixture
def ada_with_two_addresses(team):
    ada = team.candidate_on_my_posting
    CandidateEmail.objects.create(
        organisation=team.organisation, candidate=ada, address="ada.work@company.example"
    )
    return ada


def _addresses(candidate):
    return list(candidate.emails.order_by("address").values_list("address", "is_primary"))


def test_recruiter_makes_another_address_primary_with_htmx(
    team, ada_with_two_addresses, client_for
):
    ada = ada_with_two_addresses
    work = ada.emails.get(address="ada.work@company.example")

    response = client_for(team.team_member).post(
        reverse("candidates:make_primary_email", args=[ada.pk, work.pk]), headers=HTMX
    )

    assert response.status_code == 200
    assert "ada.work@company.example is now primary." in response.content.decode()
    assert _addresses(ada) == [
        ("ada.work@company.example", True),
        ("ada@acme-candidates.test", False),
    ]
    entries = audit.entries_for_candidate(ada.pk).filter(action=LogEntry.Action.UPDATE)
    assert sorted(entry.changes_dict["is_primary"] for entry in entries) == [
        ["False", "True"],
        ["True", "False"],
    ]
    assert {entry.actor for entry in entries} == {team.team_member}


def test_removing_the_primary_address_makes_the_remaining_one_primary(
    team, ada_with_two_addresses, client_for
):
    ada = ada_with_two_addresses
    primary = ada.emails.get(is_primary=True)

    response = client_for(team.team_member).post(
        reverse("candidates:remove_email", args=[ada.pk, primary.pk])
    )

    assert response.status_code == 302
    assert _addresses(ada) == [("ada.work@company.example", True)]


def test_removing_the_last_address_is_allowed_with_a_warning(team, client_for):
    ada = team.candidate_on_my_posting
    only = ada.emails.get()
    client = client_for(team.team_member)

    profile = client.get(reverse("candidates:detail", args=[ada.pk])).content.decode()
    response = client.post(reverse("candidates:remove_email", args=[ada.pk, only.pk]), headers=HTMX)

    assert "hx-confirm=" in profile  # the browser asks before the last one goes
    assert ada.emails.count() == 0
    body = response.content.decode()
    assert "new mail with this candidate can no longer be matched" in body
    assert "No address yet" in body


def test_an_address_of_another_candidate_cannot_be_removed_through_this_profile(team, client_for):
    ada = team.candidate_on_my_posting
    grace_email = team.candidate_elsewhere.emails.get()

    response = client_for(team.team_member).post(
        reverse("candidates:remove_email", args=[ada.pk, grace_email.pk])
    )

    assert response.status_code == 404
    assert CandidateEmail.objects.filter(pk=grace_email.pk).exists()


def test_limited_member_cannot_touch_addresses_of_a_candidate_they_cannot_see(team, client_for):
    grace = team.candidate_elsewhere
    email = grace.emails.get()
    client = client_for(team.limited)

    removed = client.post(reverse("candidates:remove_email", args=[grace.pk, email.pk]))
    primary = client.post(reverse("candidates:make_primary_email", args=[grace.pk, email.pk]))

    assert (removed.status_code, primary.status_code) == (404, 404)
    assert CandidateEmail.objects.filter(pk=email.pk).exists()


def test_address_of_a_candidate_the_user_cannot_see_is_refused_without_naming_them(
    team, client_for
):
    """The limited member cannot see Grace: the refusal is the one for any taken address,
    with neither her name nor a link to her profile."""
    ada = team.candidate_on_my_posting
    grace = team.candidate_elsewhere
    client = client_for(team.limited)

    response = client.post(
        reverse("candidates:add_email", args=[ada.pk]),
        {"email": "  GRACE@acme-candidates.test "},
        headers=HTMX,
    )

    body = response.content.decode()
    assert "Another candidate already has this address." in body
    assert "Grace" not in body
    assert str(grace.pk) not in body
    assert ada.emails.count() == 1


def test_added_address_is_normalised_and_audited(team, client_for):
    ada = team.candidate_on_my_posting

    client_for(team.team_member).post(
        reverse("candidates:add_email", args=[ada.pk]), {"email": " Ada.Home@Example.ORG "}
    )

    assert ada.emails.filter(address="ada.home@example.org", is_primary=False).exists()
    created = audit.entries_for_candidate(ada.pk).get(actor=team.team_member)
    assert created.action == LogEntry.Action.CREATE
    assert created.changes_dict["address"] == ["None", "ada.home@example.org"]


# --- Stages --------------------------------------------------------------------------------


def _set_stage(client, application, stage, **kwargs):
    return client.post(
        reverse("candidates:application_stage", args=[application.candidate_id, application.pk]),
        {"stage": stage},
        **kwargs,
    )


def test_recruiter_moves_an_application_to_another_stage_with_htmx(team, client_for):
    application = team.candidate_on_my_posting.applications.get()

    response = _set_stage(client_for(team.team_member), application, "screen", headers=HTMX)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Now at Phone screen." in body
    assert '<option value="screen" selected>' in body
    application.refresh_from_db()
    assert application.stage == "screen"
    entry = audit.entries_for_candidate(team.candidate_on_my_posting.pk).first()
    assert entry.changes_dict["stage"] == ["new", "screen"]
    assert audit.describe(entry) == "changed an application's stage"


def test_an_unknown_stage_is_refused_with_a_message(team, client_for):
    application = team.candidate_on_my_posting.applications.get()

    response = _set_stage(client_for(team.team_member), application, "promoted", headers=HTMX)

    assert "Choose one of the stages." in response.content.decode()
    application.refresh_from_db()
    assert application.stage == "new"


def test_limited_member_changes_stages_only_on_their_own_postings(team, client_for):
    ada = team.candidate_on_my_posting
    mine = ada.applications.get()
    elsewhere = Application.objects.create(candidate=ada, posting=team.other_posting)
    client = client_for(team.limited)

    allowed = _set_stage(client, mine, "interview")
    refused = _set_stage(client, elsewhere, "archived")
    profile = client.get(reverse("candidates:detail", args=[ada.pk])).content.decode()

    assert allowed.status_code == 302
    assert refused.status_code == 404
    assert Application.objects.get(pk=mine.pk).stage == "interview"
    assert Application.objects.get(pk=elsewhere.pk).stage == "new"
    assert f"stage-{elsewhere.pk}" not in profile


# --- Long threads, tabs, paging ------------------------------------------------------------


def _thread_with(team, count):
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting, owner=team.team_member, visibility="team"
    )
    for n in range(count):
        EmailMessageFactory(thread=thread, body_text=f"Message number {n + 1}")
    return thread


def _emails_tab_of_ada(team, client_for) -> str:
    ada = team.candidate_on_my_posting
    return (
        client_for(team.team_member).get(reverse("mailsync:emails", args=[ada.pk])).content.decode()
    )


def test_a_thread_of_seven_messages_shows_the_newest_three_and_four_earlier(team, client_for):
    _thread_with(team, 7)

    body = _emails_tab_of_ada(team, client_for)

    assert "Show 4 earlier" in body
    earlier = body[body.index('class="earlier-messages"') : body.index('class="latest-messages"')]
    latest = body[body.index('class="latest-messages"') : body.index('<details class="reply"')]
    assert all(f"Message number {n}<" in earlier for n in (1, 2, 3, 4))
    assert all(f"Message number {n}<" in latest for n in (5, 6, 7))
    assert not any(f"Message number {n}<" in latest for n in (1, 2, 3, 4))


def test_a_short_thread_is_shown_whole(team, client_for):
    _thread_with(team, 3)

    body = _emails_tab_of_ada(team, client_for)

    assert "earlier" not in body
    assert all(f"Message number {n}<" in body for n in (1, 2, 3))


def test_a_tab_swapped_in_by_htmx_brings_its_highlighted_tab_nav_out_of_band(team, client_for):
    ada = team.candidate_on_my_posting
    swap = {"HX-Request": "true", "HX-Target": "profile-tab"}
    client = client_for(team.team_member)

    emails = client.get(reverse("mailsync:emails", args=[ada.pk]), headers=swap).content.decode()
    overview = client.get(reverse("candidates:detail", args=[ada.pk]), headers=swap)

    nav = re.search(
        r'<nav class="tabs" id="profile-tabs"[^>]*hx-swap-oob="true">(.*?)</nav>', emails, re.S
    )
    assert nav is not None
    assert re.search(r'class="active" aria-current="page">Emails<', nav.group(1))
    assert 'class="active" aria-current="page">Overview<' not in nav.group(1)
    assert re.search(r'class="active" aria-current="page">Overview<', overview.content.decode())


def test_a_reply_returns_to_the_same_page_of_threads_at_its_thread(team, client_for, settings):
    from mailsync import candidate_views

    ada = team.candidate_on_my_posting
    threads = [_thread_with(team, 1) for _ in range(candidate_views.THREADS_PER_PAGE + 2)]
    client = client_for(team.team_member)

    page_two = client.get(reverse("mailsync:emails", args=[ada.pk]), {"page": 2}).content.decode()
    shown = [t for t in threads if f'id="thread-{t.pk}"' in page_two]
    reply_action = reverse("mailsync:email_reply", args=[ada.pk, shown[0].pk]) + "?page=2"
    reply_form = reverse("mailsync:email_reply_form", args=[ada.pk, shown[0].pk]) + "?page=2"
    share = reverse("candidates:thread_share", args=[ada.pk, shown[0].pk])
    moved = client.post(share, {"page": "2"})

    assert f'hx-get="{reply_form}"' in page_two
    opened = client.get(reply_form, headers={"HX-Request": "true"}).content.decode()
    assert f'action="{reply_action}"' in opened
    assert moved["Location"] == (
        reverse("mailsync:emails", args=[ada.pk]) + f"?page=2#thread-{shown[0].pk}"
    )


def test_pager_links_keep_the_page_in_the_address_bar(team, client_for):
    from mailsync import candidate_views

    ada = team.candidate_on_my_posting
    for _ in range(candidate_views.THREADS_PER_PAGE + 1):
        _thread_with(team, 1)

    body = client_for(team.team_member).get(reverse("mailsync:emails", args=[ada.pk])).content
    older = re.search(rb'<a href="([^"]+)"[^>]*hx-push-url="true">Older', body)

    assert older is not None and older.group(1).endswith(b"?page=2")


# --- allauth's pages in Threadline's layout ------------------------------------------------

LAYOUT_MARKER = '<a class="brand" href="/">Threadline</a>'


def _in_our_layout(response) -> bool:
    body = response.content.decode()
    return LAYOUT_MARKER in body and "<strong>Menu:</strong>" not in body


def test_sign_in_and_every_password_reset_step_use_threadlines_layout(team, client):
    pages = {
        "sign in": client.get(reverse("account_login")),
        "reset": client.get(reverse("account_reset_password")),
        "reset done": client.get(reverse("account_reset_password_done")),
        "from key done": client.get(reverse("account_reset_password_from_key_done")),
    }
    client.post(reverse("account_reset_password"), {"email": team.team_member.email})
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    pages["from key"] = client.get(link, follow=True)
    pages["bad key"] = client.get(reverse("account_reset_password_from_key", args=["x", "y-z"]))

    assert {name: _in_our_layout(page) for name, page in pages.items()} == dict.fromkeys(
        pages, True
    )
    assert 'class="primary"' in pages["reset"].content.decode()
    assert 'for="id_password1"' in pages["from key"].content.decode()


def test_sign_out_and_account_pages_use_threadlines_layout(team, client_for):
    client = client_for(team.team_member)

    pages = [
        client.get(reverse("account_logout")),
        client.get(reverse("account_email")),
        client.get(reverse("account_change_password")),
        client.get(reverse("account_inactive")),
        client.get(reverse("socialaccount_connections")),
    ]

    assert [page.status_code for page in pages] == [200] * len(pages)
    assert all(_in_our_layout(page) for page in pages)
    assert "Are you sure you want to sign out?" in pages[0].content.decode()


def test_the_candidate_created_by_the_form_is_audited_too(team, client_for):
    client_for(team.team_member).post(
        reverse("candidates:create"), {"full_name": "New Person", "email": "new@example.com"}
    )

    candidate = CandidateFactory._meta.model.objects.get(full_name="New Person")
    actions = set(audit.entries_for_candidate(candidate.pk).values_list("action", flat=True))
    assert actions == {LogEntry.Action.CREATE}
