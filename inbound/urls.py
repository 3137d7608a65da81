from django.urls import path

from inbound import settings_views

# Included at the site's root: the pages keep the paths they had under accounts.
app_name = "inbound"
urlpatterns = [
    path("settings/company/", settings_views.company_settings, name="company_settings"),
    path(
        "settings/company/routing/",
        settings_views.routing_instructions,
        name="routing_instructions",
    ),
]
