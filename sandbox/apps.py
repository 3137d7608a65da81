from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Provider sandbox (Google and Microsoft emulation)"
