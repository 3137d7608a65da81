"""Settings shared by every environment. Everything comes from environment variables.

`development.py` fills in safe local defaults; `production.py` refuses to start on them.
"""

import ipaddress
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Local state of a development or test machine: SQLite file, embedded broker, generated keys.
VAR_DIR = Path(env_str("THREADLINE_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# The provider sandbox (local Google + Microsoft emulation) is for demos and tests only.
SANDBOX = env_bool("SANDBOX", False)

INSTALLED_APPS = [
    "accounts.admin_apps.ThreadlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.microsoft",
    "encrypted_model_fields",
    "anymail",
    "auditlog",
    "django_celery_beat",
    "django_prometheus",
    "core",
    "accounts",
    "candidates",
    "mailsync",
    "inbound",
    "interviews",
]

MIDDLEWARE = [
    # First and last (django-prometheus): request counts and latencies cover every other
    # middleware, refusals included.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before anything reads a request body: per-path size limits (inbound mail is larger).
    "core.middleware.RequestSizeLimits",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp, plus the providers' consent pages in form-action (see the policy below).
    "core.middleware.ContentSecurityPolicy",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Records who made each audited change (company settings) from the signed-in user.
    "auditlog.middleware.AuditlogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
                "mailsync.context_processors.mailbox_health",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'threadline.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# Seconds a process keeps its database connection between requests and tasks (0: a new
# one each time). On SQLite too: opening one cost a post to the inbound webhook about a
# fifth of its CPU (docs/benchmarks.md, "Keeping SQLite's connection").
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
# A kept connection is checked before use, so a restarted server costs no failed request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if _SQLITE:
    # Web, worker and beat share one file in the default set-up: wait for locks instead of
    # failing, take write locks up front, and let readers proceed alongside one writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# django-prometheus's engines are Django's own (same features, options and vendor) with a
# counter and a timer around each query and connection, for /metrics.
_PROMETHEUS_ENGINES = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Metrics (/metrics, README "Metrics") --------------------------------------------------
# /metrics answers 404 unless the request carries `Authorization: Bearer <METRICS_TOKEN>`
# or comes from one of METRICS_ALLOWED_NETWORKS (comma-separated, e.g. 10.0.0.0/8,::1/128).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")


def _networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item) for item in env_list(name, [])]
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error}") from None


METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_NETWORKS")

# --- Cache (login rate limits, locks). Shared across processes when CACHE_URL is set. ----
# Without it each process has its own: limits counted in the cache (Graph's request slots,
# core/slots.py) then hold within each process only.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "candidates:list"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# A reset for an unknown address answers like any other and mails nobody (no sign-up here).
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
# Failed logins are limited per address and per client IP; the counters live in CACHES.
# Behind reverse proxies every request comes from the proxy's address, so the client's
# address is read from X-Forwarded-For, skipping as many entries from the right as there
# are proxies of ours (each appends the address it saw). allauth's rate limits use this;
# with 0 the header is ignored, since anyone can send it.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LOGIN_FAILED_RATE_LIMIT", "5/5m/ip,5/5m/key"),
    "reset_password": "20/m/ip,5/m/key",
}
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_LOGIN_ON_GET = False

# Sign-in with Google / Microsoft appears only when a client id is configured.
GOOGLE_OAUTH_CLIENT_ID = env_str("GOOGLE_OAUTH_CLIENT_ID", "")
GOOGLE_OAUTH_CLIENT_SECRET = env_str("GOOGLE_OAUTH_CLIENT_SECRET", "")
MICROSOFT_OAUTH_CLIENT_ID = env_str("MICROSOFT_OAUTH_CLIENT_ID", "")
MICROSOFT_OAUTH_CLIENT_SECRET = env_str("MICROSOFT_OAUTH_CLIENT_SECRET", "")
MICROSOFT_OAUTH_TENANT = env_str("MICROSOFT_OAUTH_TENANT", "organizations")
SOCIALACCOUNT_PROVIDERS: dict = {}
if GOOGLE_OAUTH_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APPS": [{"client_id": GOOGLE_OAUTH_CLIENT_ID, "secret": GOOGLE_OAUTH_CLIENT_SECRET}],
        "SCOPE": ["openid", "email", "profile"],
    }
if MICROSOFT_OAUTH_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["microsoft"] = {
        "APPS": [
            {
                "client_id": MICROSOFT_OAUTH_CLIENT_ID,
                "secret": MICROSOFT_OAUTH_CLIENT_SECRET,
                "settings": {"tenant": MICROSOFT_OAUTH_TENANT},
            }
        ],
    }

# --- Encryption at rest -----------------------------------------------------------------
# A Fernet key (or a comma-separated list, newest first, for rotation).
FIELD_ENCRYPTION_KEY = env_list("FIELD_ENCRYPTION_KEY", [])

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 14 * 60)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Email (password reset and notifications; mail to candidates goes via providers) -----
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Threadline <no-reply@threadline.localhost>")

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Attachments (encrypted by core.attachment_storage, kept out of the database) ---------
# An S3-compatible bucket when ATTACHMENT_STORAGE_BUCKET is set (credentials from boto3's
# usual sources: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the machine's role),
# else a directory: under var/ by default, or ATTACHMENT_STORAGE_DIR, which every web and
# worker machine must share.
ATTACHMENT_STORAGE_BUCKET = env_str("ATTACHMENT_STORAGE_BUCKET", "")
ATTACHMENT_STORAGE_DIR = Path(env_str("ATTACHMENT_STORAGE_DIR") or VAR_DIR / "attachments")


def attachment_storage(bucket: str, directory: Path) -> dict[str, Any]:
    """The "attachments" entry of STORAGES (a function: test settings build their own)."""
    if not bucket:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            # Owner only: the files are ciphertext, but nobody else has reason to list them.
            "OPTIONS": {
                "location": str(directory),
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": env_str("ATTACHMENT_STORAGE_ENDPOINT_URL") or None,
            "region_name": env_str("ATTACHMENT_STORAGE_REGION") or None,
            # Private objects, never a public URL, never a silent overwrite.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }


STORAGES["attachments"] = attachment_storage(ATTACHMENT_STORAGE_BUCKET, ATTACHMENT_STORAGE_DIR)

# --- Content-Security-Policy (django-csp) ----------------------------------------------
# Scripts and styles only from our own static files: no inline <script>, no on*= handlers
# (static/js/ wires behaviour through data attributes; htmx's own indicator style is off,
# see base.html). Images only from us: a mail's remote images are admitted only on the page
# the viewer opened to load them (mailsync.candidate_views.candidate_emails_with_images).
# `form-action` also admits the providers' consent pages: core.middleware adds them.
# Typed as django-csp types it (csp.utils.DIRECTIVES_T): its keys hold unlike values, and
# development.py adds EXCLUDE_URL_PREFIXES, a list, beside DIRECTIVES, a dict.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Mail HTML keeps its `style=` attributes, or formatted mail loses its layout.
        # They are cleaned to typography and box properties (candidates.rendering), none of
        # which loads a URL (and img-src/font-src would refuse one) or can lift a message
        # over the page; <style> elements stay forbidden (style-src-elem is style-src).
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact": {"()": "core.log_filters.RedactQueryAndAddresses"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Logs never carry an address, a subject or a body (tests/log_leaks.py). O365's
        # DEBUG lines dump each request's parameters, headers and user name, whatever
        # LOG_LEVEL says; its 4xx ERROR lines quote the URL, search included.
        "O365": {"level": "WARNING"},
        "O365.connection": {"filters": ["redact"]},
        # "Not Found: <path>": the sandbox's paths name mailboxes by address, as Graph's do.
        "django.request": {"filters": ["redact"]},
    },
}

# --- Threadline -------------------------------------------------------------------------
CANDIDATES_PER_PAGE = 25
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True

# --- Interviews ---------------------------------------------------------------------------
# How often beat reads back the events Threadline created in connected calendars, and how
# often a round reads all of them (the only way to notice one deleted without a trace).
INTERVIEWS_CALENDAR_SYNC_SECONDS = env_int("INTERVIEWS_CALENDAR_SYNC_SECONDS", 300)
INTERVIEWS_CALENDAR_FULL_READ_SECONDS = env_int("INTERVIEWS_CALENDAR_FULL_READ_SECONDS", 3600)
# At most this many free slots are proposed per day, spread over the day.
INTERVIEWS_SLOTS_PER_DAY = env_int("INTERVIEWS_SLOTS_PER_DAY", 8)

# --- Mail sync ----------------------------------------------------------------------------
# The domain in the Message-IDs we generate; customers' routing rules (limited sync) match it.
THREADLINE_MESSAGE_ID_DOMAIN = env_str("THREADLINE_MESSAGE_ID_DOMAIN", "threadline.localhost")
# Key for thread references in outgoing mail; defaults to one derived from SECRET_KEY.
THREADLINE_REF_SECRET = env_str("THREADLINE_REF_SECRET", "")
MAILSYNC_INTERVAL_SECONDS = env_int("MAILSYNC_INTERVAL_SECONDS", 120)
MAILSYNC_MAX_ATTEMPTS = env_int("MAILSYNC_MAX_ATTEMPTS", 5)
MAILSYNC_BACKOFF_BASE = float(env_str("MAILSYNC_BACKOFF_BASE", "1.0"))
MAILSYNC_BACKOFF_MAX = float(env_str("MAILSYNC_BACKOFF_MAX", "32"))
MAILSYNC_RETRY_AFTER_MAX = float(env_str("MAILSYNC_RETRY_AFTER_MAX", "60"))
# What waits between retries (a dotted path): tests record the delays instead of waiting.
MAILSYNC_SLEEP = "time.sleep"
# O365 waits this long between two Graph calls of one session (its own default, 200 ms).
MAILSYNC_GRAPH_REQUEST_GAP_MS = env_int("MAILSYNC_GRAPH_REQUEST_GAP_MS", 200)
MAILSYNC_HTTP_TIMEOUT = float(env_str("MAILSYNC_HTTP_TIMEOUT", "30"))
# Graph requests one mailbox may have in flight at once, counted over every process that
# shares the cache (Microsoft answers 429 past 4 per mailbox and app). With the in-process
# cache (no CACHE_URL) each process counts only its own requests.
MAILSYNC_GRAPH_CONCURRENT_REQUESTS = env_int("MAILSYNC_GRAPH_CONCURRENT_REQUESTS", 4)
if MAILSYNC_GRAPH_CONCURRENT_REQUESTS < 1:
    raise ImproperlyConfigured("MAILSYNC_GRAPH_CONCURRENT_REQUESTS must be 1 or more.")
MAILSYNC_LEASE_SECONDS = env_int("MAILSYNC_LEASE_SECONDS", 15 * 60)
MAILSYNC_BATCH_SIZE = env_int("MAILSYNC_BATCH_SIZE", 50)
# Changes asked for per page (Gmail's history allows 500, Graph's delta more), and the
# messages one round reads before it saves its place and queues the rest behind every
# other mailbox's round: a mailbox back from a long outage never holds a worker for long.
MAILSYNC_CHANGES_PAGE_SIZE = env_int("MAILSYNC_CHANGES_PAGE_SIZE", 500)
MAILSYNC_ROUND_MAX_MESSAGES = env_int("MAILSYNC_ROUND_MAX_MESSAGES", 5000)
MAILSYNC_LABEL_NAME = env_str("MAILSYNC_LABEL_NAME", "Threadline")
# "Import candidate email" runs as a background job with no cap on messages; it spends at
# most this much of the user's provider quota per second (Gmail units: Google allows 250;
# Graph requests: Microsoft allows 10,000 per ten minutes), leaving the rest to sync.
MAILSYNC_IMPORT_GMAIL_UNITS_PER_SECOND = env_int("MAILSYNC_IMPORT_GMAIL_UNITS_PER_SECOND", 200)
MAILSYNC_IMPORT_GRAPH_REQUESTS_PER_SECOND = env_int("MAILSYNC_IMPORT_GRAPH_REQUESTS_PER_SECOND", 10)
# A job's worker holds it this long between two progress saves (a killed worker's job is
# resumed once it runs out), and hands over to a fresh task after a slice of this length.
MAILSYNC_IMPORT_LEASE_SECONDS = env_int("MAILSYNC_IMPORT_LEASE_SECONDS", 120)
MAILSYNC_IMPORT_SLICE_SECONDS = env_int("MAILSYNC_IMPORT_SLICE_SECONDS", 10 * 60)

# Google (Gmail API + OAuth). Endpoints are settings so that the demo and the tests can
# point the real client libraries at the local sandbox.
GOOGLE_MAIL_CLIENT_ID = env_str("GOOGLE_MAIL_CLIENT_ID", "")
GOOGLE_MAIL_CLIENT_SECRET = env_str("GOOGLE_MAIL_CLIENT_SECRET", "")
GOOGLE_AUTH_URI = env_str("GOOGLE_AUTH_URI", "https://accounts.google.com/o/oauth2/auth")
GOOGLE_TOKEN_URI = env_str("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token")
GOOGLE_REVOKE_URI = env_str("GOOGLE_REVOKE_URI", "https://oauth2.googleapis.com/revoke")
GOOGLE_API_ROOT = env_str("GOOGLE_API_ROOT", "https://gmail.googleapis.com/")
GOOGLE_USERINFO_URI = env_str(
    "GOOGLE_USERINFO_URI", "https://www.googleapis.com/oauth2/v3/userinfo"
)
MAILSYNC_RECOVERY_MAX_THREADS = env_int("MAILSYNC_RECOVERY_MAX_THREADS", 500)

# Microsoft 365 (Graph + identity platform). MSAL insists on an https authority.
MICROSOFT_MAIL_CLIENT_ID = env_str("MICROSOFT_MAIL_CLIENT_ID", "")
MICROSOFT_MAIL_CLIENT_SECRET = env_str("MICROSOFT_MAIL_CLIENT_SECRET", "")
MICROSOFT_AUTHORITY_HOST = env_str("MICROSOFT_AUTHORITY_HOST", "https://login.microsoftonline.com")
MICROSOFT_TENANT = env_str("MICROSOFT_TENANT", "organizations")
# Where browsers go for admin consent; the authority host unless told otherwise.
MICROSOFT_LOGIN_PAGE_HOST = env_str("MICROSOFT_LOGIN_PAGE_HOST", "")
SANDBOX_MICROSOFT_LOGIN_URL = ""
MICROSOFT_GRAPH_URL = env_str("MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/")

# --- Inbound mail (limited sync) ----------------------------------------------------------
# Each organisation receives routed replies at <its inbound key>@THREADLINE_INBOUND_DOMAIN,
# a domain whose MX points at Mailgun (or at a self-hosted MTA piping into `ingest_mail`).
THREADLINE_INBOUND_DOMAIN = env_str("THREADLINE_INBOUND_DOMAIN", "inbound.threadline.localhost")
INBOUND_MAX_MESSAGE_BYTES = env_int("INBOUND_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)
# The authserv-id of the relay that receives routed mail, removes Authentication-Results
# headers claiming its id (RFC 8601 section 5) and adds its own on top, saying whether
# DKIM or SPF passed. A routed message From one of our users counts as theirs only when
# that header says their domain passed. Unset (the default): no routed message is
# credited to a user; each is stored as received from its From address.
INBOUND_AUTHSERV_ID = env_str("INBOUND_AUTHSERV_ID", "")
# Mailgun signs every post; posts older than this, or whose token was seen, are refused.
INBOUND_SIGNATURE_MAX_AGE_SECONDS = env_int("INBOUND_SIGNATURE_MAX_AGE_SECONDS", 5 * 60)
ANYMAIL: dict[str, str | None] = {
    "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY", ""),
    # Optional HTTP basic auth ("user:password") in front of the signature check.
    "WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", "") or None,
}
# An inbound post carries a whole message in one form field, so Django's field limit
# (2.5 MB by default) must admit a 25 MB message plus Mailgun's other fields.
# `core.middleware.RequestSizeLimits` keeps every other path to its own, smaller limits.
INBOUND_POST_OVERHEAD_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = INBOUND_MAX_MESSAGE_BYTES + INBOUND_POST_OVERHEAD_BYTES
# Everywhere else: form posts of at most 2.5 MB, uploads (compose attachments) of at most
# 25 MB of files plus the form around them.
FORM_POST_MAX_BYTES = env_int("FORM_POST_MAX_BYTES", 2621440)
UPLOAD_POST_MAX_BYTES = env_int("UPLOAD_POST_MAX_BYTES", 27 * 1024 * 1024)
