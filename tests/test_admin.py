"""Django admin follows the same policy: Admins work on their organisation's data but
cannot change Super-Admin-only settings or Super Admins."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from candidates.models import Candidate, EmailThread, Posting
from tests.factories import (
    CandidateFactory,
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
    PostingFactory,
)


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


# --- An Admin sees only their organisation, even in admin's side panels ---------------------


@pytest.fixture
def rival(other_team):
    """Another organisation's data whose names must not show through."""
    secret_posting = PostingFactory(
        organisation=other_team.organisation, title="Globex Secret Acquisition Lead"
    )
    CandidateFactory(organisation=other_team.organisation, postings=[secret_posting])
    return SimpleNamespace(team=other_team, posting=secret_posting)


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:candidates_candidate_changelist",
        "admin:candidates_candidateemail_changelist",
        "admin:candidates_posting_changelist",
        "admin:candidates_application_changelist",
        "admin:accounts_user_changelist",
    ],
)
def test_admin_filters_offer_only_their_organisations_rows(team, rival, client_for, changelist):
    page = client_for(team.admin).get(reverse(changelist))

    html = page.content.decode()
    assert page.status_code == 200
    assert rival.team.organisation.name not in html
    assert rival.posting.title not in html


def test_admin_posting_filter_still_offers_their_own_postings(team, rival, client_for):
    page = client_for(team.admin).get(reverse("admin:candidates_candidate_changelist"))

    html = page.content.decode()
    assert team.my_posting.title in html
    assert team.other_posting.title in html


@pytest.mark.parametrize("field_name", ["posting", "candidate"])
def test_admin_autocomplete_answers_only_their_organisations_rows(
    team, rival, client_for, field_name
):
    response = client_for(team.admin).get(
        reverse("admin:autocomplete"),
        {"app_label": "candidates", "model_name": "application", "field_name": field_name},
    )

    ids = {row["id"] for row in response.json()["results"]}
    model = Posting if field_name == "posting" else Candidate
    assert ids
    assert ids == {
        str(pk)
        for pk in model.objects.filter(organisation=team.organisation).values_list("pk", flat=True)
    }


# --- Delete confirmations name no thread -------------------------------------------------


@pytest.fixture
def private_thread(team):
    """A colleague's private conversation with a candidate the Admin may delete."""
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting,
        owner=team.team_member,
        subject="Counter-offer from our competitor",
    )
    message = EmailMessageFactory(thread=thread)
    EmailAttachmentFactory(message=message, filename="salary-expectations.pdf")
    return thread


def _assert_names_no_thread(html: str, thread) -> None:
    assert str(thread.pk) not in html
    assert thread.subject not in html
    assert "Received from the candidate at" not in html
    assert "salary-expectations" not in html
    assert "Attachment " not in html


def test_admin_candidate_delete_confirmation_counts_threads_without_naming_them(
    team, private_thread, client_for
):
    candidate = team.candidate_on_my_posting
    url = reverse("admin:candidates_candidate_delete", args=[candidate.pk])

    page = client_for(team.admin).get(url)

    html = page.content.decode()
    assert page.status_code == 200
    _assert_names_no_thread(html, private_thread)
    assert "Email threads: 1" in html
    assert "ada@acme-candidates.test" in html  # rows the Admin may open are still listed


def test_admin_bulk_delete_confirmation_names_no_thread(team, private_thread, client_for):
    candidate = team.candidate_on_my_posting

    page = client_for(team.admin).post(
        reverse("admin:candidates_candidate_changelist"),
        {"action": "delete_selected", "_selected_action": [str(candidate.pk)]},
    )

    assert page.status_code == 200
    _assert_names_no_thread(page.content.decode(), private_thread)


def test_admin_deletes_a_candidate_with_threads_after_the_summary(team, private_thread, client_for):
    candidate = team.candidate_on_my_posting
    url = reverse("admin:candidates_candidate_delete", args=[candidate.pk])

    response = client_for(team.admin).post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Candidate.objects.filter(pk=candidate.pk).exists()
    assert not EmailThread.objects.filter(pk=private_thread.pk).exists()


# --- The inline address editor follows the app's rules -------------------------------------


def _resubmitted(page, **changes) -> dict:
    """The change form as the browser would post it back, with `changes` typed in."""
    data: dict = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            if field.disabled:
                continue
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value
    data.update(changes)
    return data


def _edit_address(client, candidate, new_address: str):
    url = reverse("admin:candidates_candidate_change", args=[candidate.pk])
    page = client.get(url)
    return client.post(url, _resubmitted(page, **{"emails-0-address": new_address}))


@pytest.mark.parametrize("typed", ["ada@acme-candidates.test", " Ada@ACME-Candidates.test "])
def test_admin_inline_address_of_another_candidate_is_a_field_error(team, client_for, typed):
    grace = team.candidate_elsewhere

    response = _edit_address(client_for(team.admin), grace, typed)

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert errors[0]["address"] == ["Another candidate already has this address."]
    assert list(grace.emails.values_list("address", flat=True)) == ["grace@acme-candidates.test"]


def test_admin_inline_address_is_stored_normalised(team, client_for):
    grace = team.candidate_elsewhere

    response = _edit_address(client_for(team.admin), grace, "Grace.Hopper@ACME-Candidates.Test")

    assert response.status_code == 302
    assert list(grace.emails.values_list("address", flat=True)) == [
        "grace.hopper@acme-candidates.test"
    ]


# --- Provider and sync settings change only on Settings > Company --------------------------


def test_super_admin_cannot_change_the_provider_or_sync_fields_in_admin(team, client_for):
    url = reverse("admin:accounts_organisation_change", args=[team.organisation.pk])
    client = client_for(team.super_admin)

    page = client.get(url)
    response = client.post(
        url,
        {
            "name": "Renamed",
            "slug": "acme",
            "email_provider": "microsoft",
            "microsoft_authorization_mode": "admin",
            "microsoft_tenant_id": "attacker-tenant",
            "email_sync_level": "limited",
        },
    )

    html = page.content.decode()
    assert 'name="email_provider"' not in html
    assert 'name="microsoft_authorization_mode"' not in html
    assert 'name="microsoft_tenant_id"' not in html
    assert response.status_code == 302
    team.organisation.refresh_from_db()
    assert team.organisation.name == "Renamed"
    assert team.organisation.email_provider == "google"
    assert team.organisation.microsoft_authorization_mode == "users"
    assert team.organisation.microsoft_tenant_id == ""
    assert team.organisation.email_sync_level == "full"


# --- Mailbox health, read-only ---------------------------------------------------------


@pytest.fixture
def mailboxes(team, other_team):
    ours = MailboxConnectionFactory(
        user=team.team_member,
        credentials='{"refresh_token": "refresh-token-do-not-show"}',
        cursor="history-cursor-do-not-show",
        last_error="Google answered 401 (invalid_grant).",
        messages_synced=42,
    )
    theirs = MailboxConnectionFactory(user=other_team.team_member)
    return SimpleNamespace(ours=ours, theirs=theirs)


def test_admin_lists_only_their_organisations_mailboxes(team, mailboxes, client_for):
    page = client_for(team.admin).get(reverse("admin:mailsync_mailboxconnection_changelist"))

    html = page.content.decode()
    assert page.status_code == 200
    assert mailboxes.ours.account_address in html
    assert mailboxes.theirs.account_address not in html
    assert "Google answered 401 (invalid_grant)." in html
    # The state in the words of Settings > Sync health: synced never, since authorization.
    assert "Sync health" in html


def test_admin_lists_each_mailboxs_sync_health_as_the_page_does(team, client_for):
    MailboxConnectionFactory(user=team.team_member, failing_since=timezone.now())
    MailboxConnectionFactory(user=team.admin, throttled_until=timezone.now() + timedelta(minutes=5))

    html = (
        client_for(team.admin)
        .get(reverse("admin:mailsync_mailboxconnection_changelist"))
        .content.decode()
    )

    assert "Failing since" in html
    assert "Throttled until" in html


def test_admin_mailbox_page_shows_health_and_no_credentials(team, mailboxes, client_for):
    url = reverse("admin:mailsync_mailboxconnection_change", args=[mailboxes.ours.pk])

    page = client_for(team.admin).get(url)

    html = page.content.decode()
    assert page.status_code == 200
    assert "42" in html
    assert "refresh-token-do-not-show" not in html
    assert "history-cursor-do-not-show" not in html
    assert "credentials" not in page.context["adminform"].form.fields
    assert "cursor" not in page.context["adminform"].form.fields


def test_admin_cannot_change_add_or_delete_mailboxes(team, mailboxes, client_for):
    client = client_for(team.admin)
    change = reverse("admin:mailsync_mailboxconnection_change", args=[mailboxes.ours.pk])

    posted = client.post(change, {"state": "disconnected"})
    added = client.get(reverse("admin:mailsync_mailboxconnection_add"))
    deleted = client.post(
        reverse("admin:mailsync_mailboxconnection_delete", args=[mailboxes.ours.pk]),
        {"post": "yes"},
    )

    assert posted.status_code == 403
    assert added.status_code == 403
    assert deleted.status_code == 403
    mailboxes.ours.refresh_from_db()
    assert mailboxes.ours.state == "connected"


def test_admin_cannot_open_another_organisations_mailbox(team, mailboxes, client_for):
    url = reverse("admin:mailsync_mailboxconnection_change", args=[mailboxes.theirs.pk])

    response = client_for(team.admin).get(url)

    assert response.status_code == 302  # admin's "does not exist" redirect to the index
    assert mailboxes.theirs.account_address not in response.content.decode()


def test_team_member_cannot_see_mailboxes_in_admin(team, mailboxes, client_for):
    url = reverse("admin:mailsync_mailboxconnection_changelist")

    assert client_for(team.team_member).get(url).status_code == 403


def test_admin_inline_adds_an_address_normalised_to_the_candidates_organisation(team, client_for):
    grace = team.candidate_elsewhere
    client = client_for(team.admin)
    url = reverse("admin:candidates_candidate_change", args=[grace.pk])
    data = _resubmitted(client.get(url))
    data.update(
        {
            "emails-TOTAL_FORMS": "3",
            "emails-1-address": "Grace.Work@Example.TEST",
            "emails-2-address": "grace.WORK@example.test",
        }
    )

    refused = client.post(url, data)
    data["emails-TOTAL_FORMS"] = "2"
    added = client.post(url, data)

    assert refused.status_code == 200
    assert refused.context["inline_admin_formsets"][0].formset.errors[2]["address"]
    assert added.status_code == 302
    stored = grace.emails.get(address="grace.work@example.test")
    assert stored.organisation == team.organisation
