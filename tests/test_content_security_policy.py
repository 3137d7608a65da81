"""Every page carries a Content-Security-Policy that admits no inline script, no image
from the web (unless the viewer chose to load a message's), no framing and no plugins
(issue 9, observation 9)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import EmailMessageFactory, EmailThreadFactory

TEMPLATES = Path(settings.BASE_DIR) / "templates"

# (page, who looks, url builder)
PAGES = [
    ("login", None, lambda t: reverse("account_login")),
    ("candidate list", "team_member", lambda t: reverse("candidates:list")),
    (
        "profile",
        "team_member",
        lambda t: reverse("candidates:detail", args=[t.candidate_on_my_posting.pk]),
    ),
    (
        "emails tab",
        "team_member",
        lambda t: reverse("mailsync:emails", args=[t.candidate_on_my_posting.pk]),
    ),
    ("my account", "team_member", lambda t: reverse("mailsync:my_account")),
    ("company settings", "super_admin", lambda t: reverse("inbound:company_settings")),
    ("admin index", "admin", lambda t: reverse("admin:index")),
    (
        "admin change form",
        "admin",
        lambda t: reverse("admin:accounts_organisation_change", args=[t.organisation.pk]),
    ),
]


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("page,role,url", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_sends_a_policy_without_inline_script_web_images_or_framing(
    team, client, client_for, page, role, url
):
    viewer = client_for(team.by_role(role)) if role else client

    response = viewer.get(url(team))

    assert response.status_code == 200
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]  # mail's cleaned style= only
    assert policy["img-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"][0] == "'self'"


def test_form_action_admits_exactly_the_configured_providers_consent_pages(
    team, client_for, settings
):
    settings.GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
    settings.MICROSOFT_AUTHORITY_HOST = "https://login.microsoftonline.com"
    settings.MICROSOFT_LOGIN_PAGE_HOST = ""
    settings.GOOGLE_OAUTH_CLIENT_ID = ""
    settings.MICROSOFT_OAUTH_CLIENT_ID = ""

    response = client_for(team.team_member).get(reverse("mailsync:my_account"))

    assert policy_of(response)["form-action"] == [
        "'self'",
        "https://accounts.google.com",
        "https://login.microsoftonline.com",
    ]


def test_form_action_admits_sign_in_with_google_once_it_is_configured(db, client, settings):
    settings.GOOGLE_AUTH_URI = "https://google.sandbox.test/o/oauth2/auth"
    settings.GOOGLE_OAUTH_CLIENT_ID = "client-id"

    response = client.get(reverse("account_login"))

    assert "https://accounts.google.com" in policy_of(response)["form-action"]


def _message_with_remote_images(team, text: str):
    thread = EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=team.team_member)
    return EmailMessageFactory(
        thread=thread, body_html=f'<p>{text}</p><img src="https://images.example/{text}.png">'
    )


def test_emails_tab_holds_remote_images_back_behind_a_link(team, client_for):
    message = _message_with_remote_images(team, "banner")
    emails = reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk])

    body = client_for(team.team_member).get(emails).content.decode()

    load_url = reverse(
        "mailsync:emails_with_images", args=[team.candidate_on_my_posting.pk, message.pk]
    )
    assert f'href="{load_url}?page=1#message-{message.pk}"' in body
    assert "data-load-remote-images" not in body
    assert ' src="https://images.example' not in body


def test_loading_a_messages_remote_images_admits_web_images_for_that_page_only(team, client_for):
    chosen = _message_with_remote_images(team, "chosen")
    other = _message_with_remote_images(team, "other")
    client = client_for(team.team_member)

    response = client.get(
        reverse("mailsync:emails_with_images", args=[team.candidate_on_my_posting.pk, chosen.pk])
    )
    afterwards = client.get(reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert policy_of(response)["img-src"] == ["'self'", "https:"]
    assert policy_of(response)["script-src"] == ["'self'"]
    marked = re.findall(r'<section [^>]*id="message-(\d+)"[^>]*data-load-remote-images', body)
    assert marked == [str(chosen.pk)]
    # The other message still offers its own link; the chosen one needs none.
    assert f"/images/{other.pk}/" in body
    assert f"/images/{chosen.pk}/" not in body
    assert policy_of(afterwards)["img-src"] == ["'self'"]


def test_remote_images_of_a_hidden_candidate_are_not_found(team, client_for):
    message = _message_with_remote_images(team, "hidden")
    hidden = team.candidate_elsewhere

    response = client_for(team.limited).get(
        reverse("mailsync:emails_with_images", args=[hidden.pk, message.pk])
    )

    assert response.status_code == 404


_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>\s*\S", re.IGNORECASE)
_EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
_JAVASCRIPT_URL = re.compile(r"""=\s*["']?\s*javascript:""", re.IGNORECASE)


@pytest.mark.parametrize(
    "template",
    sorted(TEMPLATES.rglob("*.html")),
    ids=lambda path: str(path.relative_to(TEMPLATES)),
)
def test_no_template_has_inline_script_or_event_handlers(template):
    source = template.read_text()

    assert not _INLINE_SCRIPT.search(source)
    assert not _EVENT_HANDLER.search(source)
    assert not _JAVASCRIPT_URL.search(source)


def test_the_template_scan_recognises_what_it_forbids():
    assert _INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not _INLINE_SCRIPT.search('<script src="/static/js/x.js" defer></script>')
    assert _EVENT_HANDLER.search('<button type="button"\n  onclick="go()">')
    assert not _EVENT_HANDLER.search('<button class="online" data-on="x">')
    assert _JAVASCRIPT_URL.search('<a href="javascript:go()">')
