from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core.views import healthz, metrics
from inbound.views import InboundWebhookView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="candidates:list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("accounts/", include("allauth.urls")),
    path("candidates/", include("candidates.urls")),
    # mailsync's and inbound's pages sit under /mailbox/, /settings/ and a candidate's path.
    path("", include("mailsync.urls")),
    path("", include("inbound.urls")),
    path("", include("interviews.urls")),
    path("admin/", admin.site.urls),
    # Mailgun route forward() targets, at the paths django-anymail documents.
    path(
        "anymail/mailgun/inbound_mime/",
        InboundWebhookView.as_view(),
        name="inbound_mailgun_mime",
    ),
    path("anymail/mailgun/inbound/", InboundWebhookView.as_view(), name="inbound_mailgun"),
]

if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
