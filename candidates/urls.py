from django.urls import path

from candidates import profile_views, views

# The Emails tab and its actions share these paths but are mailsync's (mailsync/urls.py).
app_name = "candidates"
urlpatterns = [
    path("", views.candidate_list, name="list"),
    path("new/", views.candidate_create, name="create"),
    path("<uuid:candidate_id>/", views.candidate_detail, name="detail"),
    path("<uuid:candidate_id>/addresses/", views.candidate_add_email, name="add_email"),
    path("<uuid:candidate_id>/details/", profile_views.candidate_details, name="details"),
    path("<uuid:candidate_id>/edit/", profile_views.candidate_edit, name="edit"),
    path(
        "<uuid:candidate_id>/addresses/<int:email_id>/remove/",
        profile_views.candidate_email_remove,
        name="remove_email",
    ),
    path(
        "<uuid:candidate_id>/addresses/<int:email_id>/primary/",
        profile_views.candidate_email_make_primary,
        name="make_primary_email",
    ),
    path(
        "<uuid:candidate_id>/applications/<int:application_id>/stage/",
        profile_views.application_stage,
        name="application_stage",
    ),
    # The visibility actions of a thread's ⋯ menu (removal is mailsync's: it writes
    # tombstones for the mailboxes).
    *(
        path(
            f"<uuid:candidate_id>/emails/<uuid:thread_id>/{action.replace('_', '-')}/",
            views.thread_change,
            {"action": action},
            name=f"thread_{action}",
        )
        for action in views.THREAD_CHANGES
    ),
    path("<uuid:candidate_id>/history/", views.candidate_history, name="history"),
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
