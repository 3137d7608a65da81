from django.urls import path
from django.views.generic import RedirectView

from sandbox.google import batch, gmail_views, oauth

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
    path("batch/gmail/v1", batch.batch, name="gmail-batch"),
    path("batch", batch.batch),
]
