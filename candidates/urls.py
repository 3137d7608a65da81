from django.urls import path

from candidates import views

# The Emails tab and its actions share these paths but are mailsync's (mailsync/urls.py).
app_name = "candidates"
urlpatterns = [
    path("", views.candidate_list, name="list"),
    path("new/", views.candidate_create, name="create"),
    path("<uuid:candidate_id>/", views.candidate_detail, name="detail"),
    path("<uuid:candidate_id>/addresses/", views.candidate_add_email, name="add_email"),
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
