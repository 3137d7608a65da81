from django.urls import path
from django.views.generic import RedirectView

from sandbox.google import batch, calendar_views, gmail_views, oauth

urlpatterns = [
    # The root the Gmail client's rootUrl points at; batch parts are resolved below it.
    path("", RedirectView.as_view(pattern_name="sandbox:index"), name="google-root"),
    path("o/oauth2/auth", oauth.authorize, name="google-authorize"),
    path("o/oauth2/v2/auth", oauth.authorize),
    path("token", oauth.token, name="google-token"),
    path("o/oauth2/token", oauth.token),
    path("revoke", oauth.revoke, name="google-revoke"),
    path("o/oauth2/revoke", oauth.revoke),
    path("oauth2/v3/userinfo", oauth.userinfo, name="google-userinfo"),
    path("gmail/v1/<path:rest>", gmail_views.gmail_api, name="gmail-api"),
    path("upload/gmail/v1/<path:rest>", gmail_views.gmail_upload, name="gmail-upload"),
    path("calendar/v3/<path:rest>", calendar_views.calendar_api, name="calendar-api"),
    path("batch/gmail/v1", batch.batch, name="gmail-batch"),
    # Calendar takes up to 1,000 calls in a batch (Gmail 100).
    path("batch/calendar/v3", batch.batch, {"max_parts": 1000}, name="calendar-batch"),
    path("batch", batch.batch),
    # The People API: its discovery document's rootUrl is replaced by this same root.
    path("v1/<path:rest>", gmail_views.gmail_api, {"prefix": "v1/"}, name="people-api"),
]
