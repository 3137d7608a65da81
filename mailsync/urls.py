from django.urls import include, path

from mailsync import (
    candidate_views,
    health_views,
    ingestion_views,
    mailbox_views,
    suggestion_views,
    views,
)

mailbox_patterns = [
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("sync/", views.sync_now, name="sync_now"),
    path("admin-consent/", views.admin_consent, name="admin_consent"),
    path("admin-consent/callback/", views.admin_consent_callback, name="admin_consent_callback"),
    # People to pick where a user types one (candidates and the user's contacts).
    path(
        "suggestions/<str:mode>/",
        suggestion_views.person_suggestions,
        name="person_suggestions",
    ),
    # Add a thread from my mailbox.
    path("threads/", mailbox_views.mailbox_threads, name="mailbox_threads"),
    path("threads/candidates/", mailbox_views.candidate_choices, name="mailbox_thread_candidates"),
    path("threads/<str:thread_id>/", mailbox_views.mailbox_thread, name="mailbox_thread"),
    path(
        "threads/<str:thread_id>/attach/",
        mailbox_views.mailbox_thread_attach_page,
        name="mailbox_thread_attach",
    ),
]

# A candidate profile's Emails tab, under the profile's own path.
candidate_email_patterns = [
    path("", candidate_views.candidate_emails, name="emails"),
    path(
        "images/<int:message_id>/",
        candidate_views.candidate_emails_with_images,
        name="emails_with_images",
    ),
    path("send/", candidate_views.email_send, name="email_send"),
    path("import/", candidate_views.email_import, name="email_import"),
    path(
        "import/<uuid:job_id>/",
        candidate_views.email_import_progress,
        name="email_import_progress",
    ),
    path(
        "import/<uuid:job_id>/cancel/",
        candidate_views.email_import_cancel,
        name="email_import_cancel",
    ),
    path("<uuid:thread_id>/reply/", candidate_views.email_send, name="email_reply"),
    path("<uuid:thread_id>/reply/form/", candidate_views.email_reply_form, name="email_reply_form"),
    path("<uuid:thread_id>/remove/", candidate_views.thread_remove, name="thread_remove"),
    path(
        "messages/<int:message_id>/remove/",
        candidate_views.message_remove,
        name="message_remove",
    ),
]

# Included at the site's root: the pages keep the paths they had under other apps.
app_name = "mailsync"
urlpatterns = [
    path("mailbox/", include(mailbox_patterns)),
    path("candidates/<uuid:candidate_id>/emails/", include(candidate_email_patterns)),
    path("settings/account/", views.my_account, name="my_account"),
    path("settings/sync-health/", health_views.sync_health, name="sync_health"),
    path(
        "settings/sync-health/<int:mailbox_id>/<str:action>/",
        health_views.sync_health_action,
        name="sync_health_action",
    ),
    path(
        "settings/account/ingestion/<int:job_id>/",
        ingestion_views.ingestion_progress,
        name="ingestion_progress",
    ),
]
