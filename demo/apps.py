from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Seed data for `make run`; installed by the development settings only, so Faker and
    the demo logins never reach a production installation."""

    name = "demo"
    verbose_name = "Demo data"
