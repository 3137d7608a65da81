from django.urls import path

from candidates import views

app_name = "candidates"
urlpatterns = [
    path("", views.candidate_list, name="list"),
    path("new/", views.candidate_create, name="create"),
    path("<uuid:candidate_id>/", views.candidate_detail, name="detail"),
    path(
        "<uuid:candidate_id>/emails/",
        views.candidate_detail,
        {"tab": "emails"},
        name="emails",
    ),
    path(
        "<uuid:candidate_id>/emails/images/<int:message_id>/",
        views.candidate_emails_with_images,
        name="emails_with_images",
    ),
    path("<uuid:candidate_id>/addresses/", views.candidate_add_email, name="add_email"),
    path("<uuid:candidate_id>/emails/send/", views.email_send, name="email_send"),
    path("<uuid:candidate_id>/emails/import/", views.email_import, name="email_import"),
    path(
        "<uuid:candidate_id>/emails/<uuid:thread_id>/reply/", views.email_send, name="email_reply"
    ),
    path(
        "<uuid:candidate_id>/emails/<uuid:thread_id>/visibility/",
        views.thread_visibility,
        name="thread_visibility",
    ),
    path(
        "<uuid:candidate_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    path(
        "<uuid:candidate_id>/messages/<int:message_id>/original-html/",
        views.message_original_html_download,
        name="message_original_html",
    ),
]
