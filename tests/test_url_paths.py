"""Pages that moved up to the app whose services they call (so no app imports from a
layer above it) kept their paths: users' bookmarks and links still work."""

import uuid

import pytest
from django.urls import resolve, reverse

# Fixed, so that every xdist worker collects the same test ids.
CANDIDATE = uuid.UUID("6f1c0a52-0000-4000-8000-000000000001")
THREAD = uuid.UUID("6f1c0a52-0000-4000-8000-000000000002")


@pytest.mark.parametrize(
    ("name", "kwargs", "path", "view_module"),
    [
        ("mailsync:my_account", {}, "/settings/account/", "mailsync.views"),
        ("inbound:company_settings", {}, "/settings/company/", "inbound.settings_views"),
        (
            "inbound:routing_instructions",
            {},
            "/settings/company/routing/",
            "inbound.settings_views",
        ),
        (
            "mailsync:emails",
            {"candidate_id": CANDIDATE},
            f"/candidates/{CANDIDATE}/emails/",
            "mailsync.candidate_views",
        ),
        (
            "mailsync:emails_with_images",
            {"candidate_id": CANDIDATE, "message_id": 7},
            f"/candidates/{CANDIDATE}/emails/images/7/",
            "mailsync.candidate_views",
        ),
        (
            "mailsync:email_send",
            {"candidate_id": CANDIDATE},
            f"/candidates/{CANDIDATE}/emails/send/",
            "mailsync.candidate_views",
        ),
        (
            "mailsync:email_reply",
            {"candidate_id": CANDIDATE, "thread_id": THREAD},
            f"/candidates/{CANDIDATE}/emails/{THREAD}/reply/",
            "mailsync.candidate_views",
        ),
        (
            "mailsync:email_import",
            {"candidate_id": CANDIDATE},
            f"/candidates/{CANDIDATE}/emails/import/",
            "mailsync.candidate_views",
        ),
        ("mailsync:connect", {}, "/mailbox/connect/", "mailsync.views"),
        (
            "candidates:thread_make_secret",
            {"candidate_id": CANDIDATE, "thread_id": THREAD},
            f"/candidates/{CANDIDATE}/emails/{THREAD}/make-secret/",
            "candidates.views",
        ),
        (
            "candidates:detail",
            {"candidate_id": CANDIDATE},
            f"/candidates/{CANDIDATE}/",
            "candidates.views",
        ),
    ],
)
def test_moved_pages_keep_their_paths(name, kwargs, path, view_module):
    assert reverse(name, kwargs=kwargs) == path
    match = resolve(path)
    assert f"{match.namespace}:{match.url_name}" == name
    assert match.func.__module__ == view_module
