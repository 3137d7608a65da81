from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("account/", views.my_account, name="my_account"),
    path("company/", views.company_settings, name="company_settings"),
    path("company/routing/", views.routing_instructions, name="routing_instructions"),
]
