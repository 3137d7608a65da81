from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core.views import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="candidates:list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("settings/", include("accounts.urls")),
    path("candidates/", include("candidates.urls")),
    path("mailbox/", include("mailsync.urls")),
    path("admin/", admin.site.urls),
]

if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
