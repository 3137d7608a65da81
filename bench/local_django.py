"""Django for an in-process benchmark: development settings on a fresh SQLite database in
a folder of its own, migrated, with the test client's host allowed."""

import os
from pathlib import Path


def django_in(workdir: Path, *, instrument_templates: bool = True) -> None:
    """`instrument_templates=False` renders templates as production does. Django's test
    environment sends a signal for every template rendered, includes too, which the test
    client answers by copying the context: a cost per included partial that no deployed
    page pays (about a tenth of the Emails tab's time)."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.development",
            "THREADLINE_VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            # The test client's host, which setup_test_environment would otherwise allow.
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    call_command("migrate", verbosity=0)
    if instrument_templates:
        setup_test_environment()  # the test client's host and response bookkeeping
