"""pytest: development defaults plus speed-ups that do not change behaviour."""

import os

from config.settings.development import *  # noqa: F403 (settings modules extend one another)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

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
