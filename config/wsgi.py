import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

application = get_wsgi_application()

from core.encryption import verify_at_startup  # noqa: E402 (needs the app loaded first)

verify_at_startup()
