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
    path("<uuid:candidate_id>/addresses/", views.candidate_add_email, name="add_email"),
]
