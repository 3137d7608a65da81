from django.urls import include, path

from mailsync import candidate_views, views

mailbox_patterns = [
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("sync/", views.sync_now, name="sync_now"),
    path("admin-consent/", views.admin_consent, name="admin_consent"),
    path("admin-consent/callback/", views.admin_consent_callback, name="admin_consent_callback"),
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
    path("<uuid:thread_id>/reply/", candidate_views.email_send, name="email_reply"),
]

# Included at the site's root: the pages keep the paths they had under other apps.
app_name = "mailsync"
urlpatterns = [
    path("mailbox/", include(mailbox_patterns)),
    path("candidates/<uuid:candidate_id>/emails/", include(candidate_email_patterns)),
    path("settings/account/", views.my_account, name="my_account"),
]
