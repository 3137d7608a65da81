"""Production: every secret and address comes from the environment, or start-up fails."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_required, env_str
from config.settings.base import *  # noqa: F403 (settings modules extend one another)
from config.settings.base import (
    ALLOWED_HOSTS,
    ATTACHMENT_STORAGE_BUCKET,
    FIELD_ENCRYPTION_KEY,
    SANDBOX,
)

DEBUG = False
SECRET_KEY = env_required("SECRET_KEY")
if SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be a random value of at least 50 characters.")
env_required("FIELD_ENCRYPTION_KEY")
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is required in production.")
env_required("ALLOWED_HOSTS")
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list this deployment's host names.")
# The defaults (a local SQLite file, the embedded broker) do not survive several machines.
env_required("DATABASE_URL")
env_required("CELERY_BROKER_URL")
# Nor does a directory under var/: a worker's stored attachment would be missing for a web
# process on another machine.
if not (ATTACHMENT_STORAGE_BUCKET or env_str("ATTACHMENT_STORAGE_DIR")):
    raise ImproperlyConfigured(
        "ATTACHMENT_STORAGE_BUCKET (S3-compatible object storage) or ATTACHMENT_STORAGE_DIR "
        "(a directory every web and worker machine shares) is required in production."
    )
if SANDBOX:
    raise ImproperlyConfigured("SANDBOX=1 emulates Google and Microsoft; never in production.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Prometheus scrapes each web machine directly (README, "Metrics"): redirected to the
# public https address it would reach one machine at random through the proxy. /metrics
# guards itself (a token or the scraper's network).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Preloading HSTS is a commitment an operator opts into (SECURE_HSTS_PRELOAD=1), not a default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
