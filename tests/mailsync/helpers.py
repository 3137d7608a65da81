"""Running Threadline's own processes (manage.py, a Celery worker) against the test
database and the live server's sandbox."""

import os

from django.conf import settings


def child_environment(**extra: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "GOOGLE_MAIL_CLIENT_ID": settings.GOOGLE_MAIL_CLIENT_ID,
        "GOOGLE_MAIL_CLIENT_SECRET": settings.GOOGLE_MAIL_CLIENT_SECRET,
        "GOOGLE_TOKEN_URI": settings.GOOGLE_TOKEN_URI,
        "GOOGLE_API_ROOT": settings.GOOGLE_API_ROOT,
        # The same attachment files as this test process (config/settings/test.py).
        "THREADLINE_TEST_ATTACHMENT_DIR": str(settings.ATTACHMENT_STORAGE_DIR),
        **extra,
    }
