from django.urls import include, path

from interviews import views

# A candidate profile's Interviews tab, under the profile's own path.
candidate_interview_patterns = [
    path("", views.candidate_interviews, name="list"),
    path("schedule/", views.interview_schedule, name="schedule"),
    path("schedule/confirm/", views.interview_confirm, name="confirm"),
    path("<int:interview_id>/reschedule/", views.interview_reschedule, name="reschedule"),
    path(
        "<int:interview_id>/reschedule/confirm/",
        views.interview_reschedule_confirm,
        name="reschedule_confirm",
    ),
    path("<int:interview_id>/cancel/", views.interview_cancel, name="cancel"),
]

app_name = "interviews"
urlpatterns = [
    path("candidates/<uuid:candidate_id>/interviews/", include(candidate_interview_patterns)),
]
