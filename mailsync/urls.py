from django.urls import path

from mailsync import views

app_name = "mailsync"
urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("sync/", views.sync_now, name="sync_now"),
    path("admin-consent/", views.admin_consent, name="admin_consent"),
    path("admin-consent/callback/", views.admin_consent_callback, name="admin_consent_callback"),
]
