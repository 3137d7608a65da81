from django.urls import include, path

from sandbox import views

app_name = "sandbox"
urlpatterns = [
    path("", views.index, name="index"),
    path("mailboxes/new", views.mailbox_new, name="mailbox_new"),
    path("routing/", views.routing, name="routing"),
    path("routing/<int:rule_id>/toggle", views.routing_toggle, name="routing_toggle"),
    path("routing/<int:rule_id>/delete", views.routing_delete, name="routing_delete"),
    path("mailboxes/<str:address>/", views.mailbox_detail, name="mailbox"),
    path("mailboxes/<str:address>/compose", views.compose, name="compose"),
    path("mailboxes/<str:address>/contacts", views.mailbox_contacts, name="contacts"),
    path("mailboxes/<str:address>/calendar", views.mailbox_calendar, name="calendar"),
    path("invitations/", views.invitations, name="invitations"),
    path(
        "mailboxes/<str:address>/messages/<str:message_id>/", views.message_detail, name="message"
    ),
    path("mailboxes/<str:address>/messages/<str:message_id>/reply", views.reply, name="reply"),
    path("google/", include("sandbox.google.urls")),
    path("microsoft/", include("sandbox.microsoft.urls")),
]
