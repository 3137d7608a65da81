"""Secret threads: who sees one (everywhere a thread can show), who may make a thread secret
and lift it again, the ⋯ menu that does it, its audit trail, and the profile's History.

The roles around one thread with Ada (on the Limited Team Member's posting), owned by a
Team Member: the colleague who made it secret, a colleague who wrote in it (participant),
a colleague who did neither, the Limited Team Member, the Admin, the Super Admin, and
another organisation's Super Admin.
"""

import pytest
from django.urls import NoReverseMatch, reverse

from accounts.models import Role
from candidates import audit, policy
from candidates.models import EmailMessage, EmailThread
from tests.factories import (
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    UserFactory,
)

Visibility = EmailThread.Visibility
SUBJECT = "Counter-offer from Initech"
SEES_SECRET = {
    "maker": True,
    "owner": True,
    "participant": True,
    "team_member": False,
    "limited": False,
    "admin": True,
    "super_admin": True,
    "other_organisation": False,
}
# Neither the candidate nor the thread exists for them.
OUTSIDERS = {"other_organisation"}


@pytest.fixture
def people(team, other_team):
    def colleague(name):
        return UserFactory(
            organisation=team.organisation, role=Role.TEAM_MEMBER, email=f"{name}@acme.test"
        )

    return {
        "owner": colleague("owner"),
        # Made it secret and has since no message on it (it was removed from Threadline,
        # say): secrecy alone keeps it visible to them.
        "maker": colleague("maker"),
        "participant": colleague("participant"),
        "team_member": team.team_member,
        "limited": team.limited,
        "admin": team.admin,
        "super_admin": team.super_admin,
        "other_organisation": other_team.super_admin,
    }


def _thread(team, people, *, visibility=Visibility.TEAM, subject=SUBJECT):
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting,
        owner=people["owner"],
        visibility=visibility,
        subject=subject,
    )
    inbound = EmailMessageFactory(
        thread=thread, body_text="I have another offer.", body_html="<p>I have another offer.</p>"
    )
    EmailAttachmentFactory(message=inbound, filename="offer-letter.pdf")
    EmailMessageFactory(
        thread=thread,
        sender=people["participant"],
        direction=EmailMessage.Direction.OUTBOUND,
        status=EmailMessage.Status.SENT,
        from_header="Participant <participant@acme.test>",
    )
    return thread


@pytest.fixture
def secret(team, people):
    """Shared with the team, then made secret by the maker."""
    thread = _thread(team, people)
    thread.visibility_before_secret = Visibility.TEAM
    thread.visibility = Visibility.SECRET
    thread.made_secret_by = people["maker"]
    thread.save()
    return thread


def emails_url(thread):
    return reverse("mailsync:emails", args=[thread.candidate_id])


def action_url(thread, action):
    return reverse(f"candidates:thread_{action}", args=[thread.candidate_id, thread.pk])


# --- Who sees a secret thread, endpoint by endpoint --------------------------------------


@pytest.mark.parametrize("who", SEES_SECRET)
def test_secret_thread_shows_on_the_emails_tab_only_to_those_allowed(
    people, secret, client_for, who
):
    response = client_for(people[who]).get(emails_url(secret))

    if who in OUTSIDERS:
        assert response.status_code == 404
        return
    body = response.content.decode()
    assert (SUBJECT in body) is SEES_SECRET[who]
    assert (f'id="thread-{secret.pk}"' in body) is SEES_SECRET[who]
    assert "offer-letter.pdf" not in body or SEES_SECRET[who]


@pytest.mark.parametrize("who", SEES_SECRET)
def test_secret_thread_is_counted_only_for_those_allowed(people, secret, client_for, who):
    expected = 1 if SEES_SECRET[who] else 0

    assert policy.visible_threads(people[who]).count() == expected
    response = client_for(people[who]).get(emails_url(secret))
    if who in OUTSIDERS:
        assert response.status_code == 404
        return
    assert response.context["threads"].paginator.count == expected
    assert ("1 thread</p>" in response.content.decode()) is SEES_SECRET[who]


@pytest.mark.parametrize("who", SEES_SECRET)
def test_secret_thread_is_in_the_htmx_tab_partial_only_for_those_allowed(
    people, secret, client_for, who
):
    response = client_for(people[who]).get(
        emails_url(secret), headers={"HX-Request": "true", "HX-Target": "profile-tab"}
    )

    if who in OUTSIDERS:
        assert response.status_code == 404
        return
    body = response.content.decode()
    assert "<html" not in body
    assert (SUBJECT in body) is SEES_SECRET[who]


@pytest.mark.parametrize("who", SEES_SECRET)
def test_secret_threads_attachment_downloads_only_for_those_allowed(
    people, secret, client_for, who
):
    attachment = secret.messages.get(sender=None).attachments.get()
    url = reverse("candidates:attachment", args=[secret.candidate_id, attachment.pk])

    response = client_for(people[who]).get(url)

    assert response.status_code == (200 if SEES_SECRET[who] else 404)


@pytest.mark.parametrize("who", SEES_SECRET)
def test_secret_threads_original_html_downloads_only_for_those_allowed(
    people, secret, client_for, who
):
    message = secret.messages.get(sender=None)
    url = reverse("candidates:message_original_html", args=[secret.candidate_id, message.pk])

    response = client_for(people[who]).get(url)

    assert response.status_code == (200 if SEES_SECRET[who] else 404)
    if SEES_SECRET[who]:
        assert response.content == b"<p>I have another offer.</p>"


@pytest.mark.parametrize("who", SEES_SECRET)
def test_replying_on_a_secret_thread_is_not_found_for_those_who_may_not_see_it(
    people, secret, client_for, who
):
    url = reverse("mailsync:email_reply", args=[secret.candidate_id, secret.pk])

    response = client_for(people[who]).post(url, {"to": "", "body_text": ""})

    # Those who see it get the form back with its errors (nothing is sent either way).
    assert response.status_code == (200 if SEES_SECRET[who] else 404)
    assert secret.messages.count() == 2


# Who may remove a secret thread, or one of its messages, once they see it: its owner,
# participants, Admins and Super Admins (the maker here is neither owner nor participant).
REMOVES_SECRET = {"owner", "participant", "admin", "super_admin"}


@pytest.mark.parametrize("what", ["thread", "message"])
@pytest.mark.parametrize("who", SEES_SECRET)
def test_removing_from_a_secret_thread_is_not_found_for_those_who_may_not_see_it(
    people, secret, client_for, who, what
):
    if what == "thread":
        url = reverse("mailsync:thread_remove", args=[secret.candidate_id, secret.pk])
    else:
        message = secret.messages.first()
        url = reverse("mailsync:message_remove", args=[secret.candidate_id, message.pk])

    response = client_for(people[who]).post(url)

    expected = 302 if who in REMOVES_SECRET else 403 if SEES_SECRET[who] else 404
    assert response.status_code == expected
    assert EmailThread.objects.filter(pk=secret.pk).exists() == (
        expected != 302 or what != "thread"
    )


@pytest.mark.parametrize("who", SEES_SECRET)
def test_candidate_list_and_search_never_show_a_secret_threads_subject(
    team, people, secret, client_for, who
):
    client = client_for(people[who])

    pages = [
        client.get(reverse("candidates:list")),
        client.get(reverse("candidates:list"), {"q": "Counter-offer"}),
        client.get(reverse("candidates:detail", args=[secret.candidate_id])),
    ]

    for page in pages:
        assert SUBJECT not in page.content.decode()
    searched = pages[1]
    assert searched.context["page"].paginator.count == 0


@pytest.mark.parametrize("who", ["admin", "super_admin"])
def test_threads_have_no_django_admin_pages(people, secret, client_for, who):
    """Threads, messages and attachments stay out of Django admin altogether (their place is
    the profile, under the visibility policy): no list, no change page."""
    client = client_for(people[who])

    for model in ("emailthread", "emailmessage", "emailattachment"):
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:candidates_{model}_changelist")
        assert client.get(f"/admin/candidates/{model}/").status_code == 404
        assert client.get(f"/admin/candidates/{model}/{secret.pk}/change/").status_code == 404
    candidate_page = client.get(
        reverse("admin:candidates_candidate_change", args=[secret.candidate_id])
    )
    assert candidate_page.status_code == 200
    assert SUBJECT not in candidate_page.content.decode()


# --- Lifting secrecy ----------------------------------------------------------------------

NOT_SECRET_STATUS = {
    "maker": 302,
    "admin": 302,
    "super_admin": 302,
    # They see it, but only the maker or an admin may lift it.
    "owner": 403,
    "participant": 403,
    # It does not exist for them.
    "team_member": 404,
    "limited": 404,
    "other_organisation": 404,
}


@pytest.mark.parametrize("who,status", NOT_SECRET_STATUS.items())
def test_only_the_maker_and_admins_make_a_thread_not_secret(
    people, secret, client_for, who, status
):
    response = client_for(people[who]).post(action_url(secret, "make_not_secret"))

    assert response.status_code == status
    secret.refresh_from_db()
    if status == 302:
        assert secret.visibility == Visibility.TEAM
        assert secret.made_secret_by is None and secret.visibility_before_secret == ""
    else:
        assert secret.visibility == Visibility.SECRET
        assert secret.made_secret_by == people["maker"]
    events = [
        e.additional_data["event"]
        for e in audit.entries_for_candidate(secret.candidate_id).exclude(actor=None)
    ]
    assert events == (["made_not_secret"] if status == 302 else [])


@pytest.mark.parametrize("before", [Visibility.PRIVATE, Visibility.TEAM])
def test_make_not_secret_gives_back_the_visibility_the_thread_had(team, people, client_for, before):
    thread = _thread(team, people, visibility=before)
    owner = client_for(people["owner"])

    owner.post(action_url(thread, "make_secret"))
    thread.refresh_from_db()
    assert thread.visibility == Visibility.SECRET
    assert thread.visibility_before_secret == before
    assert thread.made_secret_by == people["owner"]

    owner.post(action_url(thread, "make_not_secret"))
    thread.refresh_from_db()
    assert thread.visibility == before
    assert (thread.made_secret_by, thread.visibility_before_secret) == (None, "")


def test_a_thread_secret_from_before_its_visibility_was_kept_goes_back_to_private(
    team, people, client_for
):
    thread = _thread(team, people, visibility=Visibility.SECRET)

    response = client_for(people["admin"]).post(action_url(thread, "make_not_secret"))

    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.visibility == Visibility.PRIVATE


def test_once_an_admin_lifts_secrecy_from_a_private_thread_they_no_longer_see_it(
    team, people, client_for
):
    thread = _thread(team, people, visibility=Visibility.PRIVATE)
    client_for(people["owner"]).post(action_url(thread, "make_secret"))
    assert policy.visible_threads(people["admin"]).filter(pk=thread.pk).exists()
    admin = client_for(people["admin"])

    response = admin.post(action_url(thread, "make_not_secret"), {"page": "1"})

    assert response["Location"] == f"{emails_url(thread)}#thread-{thread.pk}"
    assert not policy.visible_threads(people["admin"]).filter(pk=thread.pk).exists()
    page = admin.get(response["Location"]).content.decode()
    assert SUBJECT not in page
    assert "The thread is private to the person who started it." in page


# --- Making a thread secret ---------------------------------------------------------------

MAKE_SECRET_STATUS = {
    "owner": 302,
    "participant": 302,
    "admin": 302,
    "super_admin": 302,
    # They read the shared thread but are not in the conversation.
    "team_member": 403,
    "limited": 403,
    "maker": 403,
    "other_organisation": 404,
}


@pytest.mark.parametrize("who,status", MAKE_SECRET_STATUS.items())
def test_owner_participants_and_admins_make_a_shared_thread_secret(
    team, people, client_for, who, status
):
    thread = _thread(team, people, visibility=Visibility.TEAM)

    response = client_for(people[who]).post(action_url(thread, "make_secret"))

    assert response.status_code == status
    thread.refresh_from_db()
    if status == 302:
        assert thread.visibility == Visibility.SECRET
        assert thread.made_secret_by == people[who]
        [entry] = audit.entries_for_candidate(thread.candidate_id).exclude(actor=None)
        assert entry.actor == people[who]
        assert entry.additional_data == {
            "candidate": str(thread.candidate_id),
            "event": "made_secret",
        }
        assert entry.object_pk == str(thread.pk)
        assert SUBJECT not in repr(vars(entry))
    else:
        assert thread.visibility == Visibility.TEAM
        assert not audit.entries_for_candidate(thread.candidate_id).exclude(actor=None).exists()


def test_making_a_secret_thread_secret_again_says_so_and_keeps_its_maker(
    people, secret, client_for
):
    admin = client_for(people["admin"])

    response = admin.post(action_url(secret, "make_secret"))

    secret.refresh_from_db()
    assert secret.made_secret_by == people["maker"]
    assert "This thread is already secret." in admin.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    "who,status",
    [
        ("owner", 302),
        ("maker", 403),
        ("participant", 403),
        ("admin", 403),
        ("team_member", 404),
        ("other_organisation", 404),
    ],
)
@pytest.mark.parametrize("action", ["share", "make_private"])
def test_share_and_make_private_change_nothing_while_a_thread_is_secret(
    people, secret, client_for, who, status, action
):
    response = client_for(people[who]).post(action_url(secret, action))

    assert response.status_code == status
    secret.refresh_from_db()
    assert secret.visibility == Visibility.SECRET
    assert not audit.entries_for_candidate(secret.candidate_id).exclude(actor=None).exists()


def test_a_limited_member_who_wrote_in_a_thread_may_make_it_secret(team, people, client_for):
    thread = _thread(team, people)
    EmailMessageFactory(thread=thread, sender=team.limited)

    response = client_for(team.limited).post(action_url(thread, "make_secret"))

    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.made_secret_by == team.limited


@pytest.mark.parametrize("action", ["share", "make_private", "make_secret", "make_not_secret"])
def test_thread_actions_only_accept_posts(people, secret, client_for, action):
    assert client_for(people["admin"]).get(action_url(secret, action)).status_code == 405


# --- The ⋯ menu -------------------------------------------------------------------------


def _menu_of(body, thread):
    """The thread's <article> (the ⋯ menu is in its header)."""
    start = body.index(f'id="thread-{thread.pk}"')
    return body[start : body.index("</article>", start)]


@pytest.mark.parametrize(
    "who,offered",
    [
        ("owner", {"Make private", "Make secret"}),
        ("participant", {"Make secret"}),
        ("admin", {"Make secret"}),
        ("team_member", set()),
        ("limited", set()),
    ],
)
def test_the_menu_offers_each_person_what_they_may_do_on_a_shared_thread(
    team, people, client_for, who, offered
):
    thread = _thread(team, people, visibility=Visibility.TEAM)

    article = _menu_of(client_for(people[who]).get(emails_url(thread)).content.decode(), thread)

    labels = {"Share with team", "Make private", "Make secret", "Make not secret"}
    assert {label for label in labels if f"{label}</button>" in article} == offered
    # Nothing to do: no menu at all, not an empty one.
    assert ('aria-label="Thread actions"' in article) is bool(offered)


@pytest.mark.parametrize(
    "who,offered",
    [
        ("maker", {"Make not secret"}),  # in this fixture, neither owner nor participant
        ("admin", {"Make not secret", "Remove thread"}),
        ("super_admin", {"Make not secret", "Remove thread"}),
        ("owner", {"Remove thread"}),
        ("participant", {"Remove thread"}),
    ],
)
def test_the_menu_of_a_secret_thread_offers_only_make_not_secret_to_those_allowed(
    people, secret, client_for, who, offered
):
    article = _menu_of(client_for(people[who]).get(emails_url(secret)).content.decode(), secret)

    labels = {"Share with team", "Make private", "Make secret", "Make not secret", "Remove thread"}
    assert {label for label in labels if f"{label}</button>" in article} == offered
    assert ('aria-label="Thread actions"' in article) is bool(offered)
    assert 'class="visibility visibility-secret"' in article
    assert "<svg" in article
    maker = "you" if who == "maker" else people["maker"].get_full_name()
    assert f"made secret by {maker}" in article


def test_the_menu_posts_through_htmx_and_swaps_the_threads_article(team, people, client_for):
    thread = _thread(team, people)
    owner = client_for(people["owner"])
    article = _menu_of(owner.get(emails_url(thread)).content.decode(), thread)
    assert f'hx-post="{action_url(thread, "make_secret")}"' in article
    assert f'hx-target="#thread-{thread.pk}" hx-select="#thread-{thread.pk}"' in article
    assert 'hx-swap="outerHTML"' in article

    # htmx follows the redirect with its own headers and picks the article out of the page.
    response = owner.post(
        action_url(thread, "make_secret"),
        {"page": "1"},
        headers={"HX-Request": "true", "HX-Target": f"thread-{thread.pk}"},
        follow=True,
    )

    assert response.redirect_chain == [(f"{emails_url(thread)}#thread-{thread.pk}", 302)]
    swapped = _menu_of(response.content.decode(), thread)
    assert "visibility-secret" in swapped
    assert "Make not secret</button>" in swapped


def test_the_redirect_keeps_the_page_of_threads_the_menu_was_on(team, people, client_for):
    thread = _thread(team, people)

    response = client_for(people["owner"]).post(action_url(thread, "make_secret"), {"page": "2"})

    assert response["Location"] == f"{emails_url(thread)}?page=2#thread-{thread.pk}"


def test_a_message_menu_offers_removal_and_never_secrecy(team, people, secret, client_for):
    body = client_for(people["admin"]).get(emails_url(secret)).content.decode()
    message_menus = body.split('aria-label="Message actions"')[1:]

    assert len(message_menus) == secret.messages.count()
    for menu in message_menus:
        items = menu.split("</details>\n</details>")[0]
        assert "Remove email</button>" in items
        assert "secret" not in items.lower()


# --- Audit and the profile's History ------------------------------------------------------


def test_each_visibility_change_is_audited_without_mail_content(team, people, client_for):
    thread = _thread(team, people, visibility=Visibility.PRIVATE)
    owner = client_for(people["owner"])

    for action in ("share", "make_private", "make_secret", "make_not_secret"):
        assert owner.post(action_url(thread, action)).status_code == 302

    entries = list(audit.entries_for_candidate(thread.candidate_id).exclude(actor=None))
    assert [e.additional_data["event"] for e in reversed(entries)] == [
        "shared",
        "made_private",
        "made_secret",
        "made_not_secret",
    ]
    assert {e.actor for e in entries} == {people["owner"]}
    assert all(e.object_pk == str(thread.pk) for e in entries)
    assert SUBJECT not in repr([vars(e) for e in entries])


def _history_url(candidate):
    return reverse("candidates:history", args=[candidate.pk])


@pytest.mark.parametrize(
    "who,status",
    [
        ("admin", 200),
        ("super_admin", 200),
        ("owner", 404),
        ("maker", 404),
        ("limited", 404),
        ("other_organisation", 404),
    ],
)
def test_only_admins_see_a_profiles_history(team, people, client_for, who, status):
    client = client_for(people[who])

    response = client.get(_history_url(team.candidate_on_my_posting))

    assert response.status_code == status
    overview = client.get(reverse("candidates:detail", args=[team.candidate_on_my_posting.pk]))
    if who not in OUTSIDERS:
        tab_link = f'href="{_history_url(team.candidate_on_my_posting)}"'
        assert (tab_link in overview.content.decode()) is (status == 200)


def test_history_names_a_thread_only_while_the_admin_may_see_it(team, people, client_for):
    thread = _thread(team, people, visibility=Visibility.PRIVATE)
    client_for(people["owner"]).post(action_url(thread, "make_secret"))
    admin = client_for(people["admin"])
    history = _history_url(thread.candidate)

    while_secret = admin.get(history).content.decode()
    owner_name = people["owner"].get_full_name()
    assert f"<strong>{owner_name}</strong> made a thread secret" in while_secret
    assert f"“{SUBJECT}”" in while_secret

    admin.post(action_url(thread, "make_not_secret"))  # back to the owner's private thread
    afterwards = admin.get(history, headers={"HX-Request": "true", "HX-Target": "profile-tab"})

    body = afterwards.content.decode()
    assert "<html" not in body
    assert SUBJECT not in body
    assert body.count("a thread</span>") == 2
    admin_name = people["admin"].get_full_name()
    assert f"<strong>{admin_name}</strong> made a thread not secret" in body
