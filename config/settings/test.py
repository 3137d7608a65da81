"""pytest: development defaults plus speed-ups that do not change behaviour."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from config.settings.development import *  # noqa: F403 (settings modules extend one another)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Attachments in a directory of this test process's own (each xdist worker has one),
# removed when it exits. Commands a test starts (manage.py in a child process) are given
# the parent's directory in THREADLINE_TEST_ATTACHMENT_DIR, so both see the same files.
# Named here, made only when a file is stored (tests/conftest.py): tools that import the
# settings and leave without running atexit (mypy's django plugin) leave nothing behind.
ATTACHMENT_STORAGE_DIR = Path(
    os.environ.get("THREADLINE_TEST_ATTACHMENT_DIR")
    or Path(tempfile.gettempdir()) / f"threadline-test-attachments-{os.getpid()}"
)
if "THREADLINE_TEST_ATTACHMENT_DIR" not in os.environ:
    atexit.register(shutil.rmtree, ATTACHMENT_STORAGE_DIR, ignore_errors=True)
STORAGES["attachments"] = attachment_storage("", ATTACHMENT_STORAGE_DIR)  # noqa: F405

# A file, not SQLite's in-memory database, so that live-server threads (browser and
# provider-sandbox tests) open their own connections as web processes do.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405 (from base)
    # One file per test process, so that two test runs in one checkout never share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")  # noqa: F405
    }

if CACHE_URL:  # noqa: F405 (from base)
    # One Redis serves every parallel test process: each keeps to its own keys.
    CACHES["default"]["BACKEND"] = "core.testing.ProcessRedisCache"  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"  # noqa: F405

# Retries record their backoff instead of waiting for it (tests assert the delays), and
# O365 does not pace the sandbox's Graph calls: no test waits on a real clock for either.
MAILSYNC_SLEEP = "core.testing.record_sleep"
MAILSYNC_GRAPH_REQUEST_GAP_MS = 0

# The same engines with a cheaper flush after each transactional test (tests/database).
DATABASES["default"]["ENGINE"] = {  # noqa: F405
    "django_prometheus.db.backends.sqlite3": "tests.database.sqlite3",
    "django_prometheus.db.backends.postgresql": "tests.database.postgresql",
}[DATABASES["default"]["ENGINE"]]  # noqa: F405
