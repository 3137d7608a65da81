"""Local development and demo: safe defaults so `make run` needs no configuration."""

import os

from cryptography.fernet import Fernet

from config.env import env_bool, env_str
from config.settings.base import *  # noqa: F403 (settings modules extend one another)
from config.settings.base import (
    FIELD_ENCRYPTION_KEY,
    INSTALLED_APPS,
    SECRET_KEY,
    STATIC_ROOT,
    VAR_DIR,
)

DEBUG = env_bool("DEBUG", True)
# Public on purpose: production.py refuses any key that starts with "django-insecure".
SECRET_KEY = SECRET_KEY or "django-insecure-development-only-0f3c9b1e7d2a4c6e8b0a1f3d5c7e9b2d"
# The demo and the tests talk to the local Google/Microsoft emulation unless told otherwise.
SANDBOX = env_bool("SANDBOX", True)
# `manage.py seed_demo`: development only, like Faker, which it needs.
INSTALLED_APPS = [*INSTALLED_APPS, "demo"]
if SANDBOX:
    INSTALLED_APPS = [*INSTALLED_APPS, "sandbox"]
    # Where the sandbox is served: the demo's own web server.
    # Not derived from PORT: honcho gives each process of `make run` a PORT of its own.
    SANDBOX_BASE_URL = env_str("SANDBOX_BASE_URL", "http://127.0.0.1:8000")
    _google = f"{SANDBOX_BASE_URL}/sandbox/google/"
    GOOGLE_MAIL_CLIENT_ID = env_str("GOOGLE_MAIL_CLIENT_ID", "threadline-sandbox-client")
    GOOGLE_MAIL_CLIENT_SECRET = env_str("GOOGLE_MAIL_CLIENT_SECRET", "sandbox-secret")
    GOOGLE_AUTH_URI = env_str("GOOGLE_AUTH_URI", f"{_google}o/oauth2/auth")
    GOOGLE_TOKEN_URI = env_str("GOOGLE_TOKEN_URI", f"{_google}token")
    GOOGLE_REVOKE_URI = env_str("GOOGLE_REVOKE_URI", f"{_google}revoke")
    GOOGLE_API_ROOT = env_str("GOOGLE_API_ROOT", _google)
    GOOGLE_USERINFO_URI = env_str("GOOGLE_USERINFO_URI", f"{_google}oauth2/v3/userinfo")
    # Microsoft's side over HTTPS (MSAL accepts only https authorities), served by the
    # `tls` process of `make run` with a throwaway local CA that requests is told to trust.
    SANDBOX_TLS_URL = env_str("SANDBOX_TLS_URL", "https://127.0.0.1:8443")
    _microsoft = f"{SANDBOX_TLS_URL}/sandbox/microsoft"
    MICROSOFT_MAIL_CLIENT_ID = env_str("MICROSOFT_MAIL_CLIENT_ID", "threadline-sandbox-client")
    MICROSOFT_MAIL_CLIENT_SECRET = env_str("MICROSOFT_MAIL_CLIENT_SECRET", "sandbox-secret")
    MICROSOFT_AUTHORITY_HOST = env_str("MICROSOFT_AUTHORITY_HOST", _microsoft)
    MICROSOFT_GRAPH_URL = env_str("MICROSOFT_GRAPH_URL", f"{_microsoft}/graph/")
    # `make run` lets browsers reach the sandbox's Microsoft sign-in pages over plain http,
    # so the demo shows no certificate warning; MSAL's own calls stay on https.
    SANDBOX_MICROSOFT_LOGIN_URL = env_str("SANDBOX_MICROSOFT_LOGIN_URL", "")
    if SANDBOX_MICROSOFT_LOGIN_URL:
        MICROSOFT_LOGIN_PAGE_HOST = f"{SANDBOX_MICROSOFT_LOGIN_URL}/sandbox/microsoft"
    # The sandbox's pages stand in for Google's, Microsoft's and a mail admin's, with their
    # own inline styles and auto-submitting forms: our policy is not theirs to follow.
    CONTENT_SECURITY_POLICY = {
        **CONTENT_SECURITY_POLICY,  # noqa: F405
        "EXCLUDE_URL_PREFIXES": ["/sandbox/"],
    }
    import certifi

    from sandbox.tls import tls_files

    SANDBOX_TLS = tls_files(VAR_DIR / "sandbox-tls")
    _public_cas = env_str("REQUESTS_CA_BUNDLE") or certifi.where()
    if not _public_cas.endswith("trust-bundle.pem"):  # child processes inherit ours
        os.environ["REQUESTS_CA_BUNDLE"] = str(SANDBOX_TLS.trust_bundle(_public_cas))
    # Keep each API answer in the sandbox's request log (benchmarks proving what was sent).
    SANDBOX_LOG_RESPONSE_BODIES = env_bool("SANDBOX_LOG_RESPONSE_BODIES", False)
    # The sandbox also plays Mailgun: routed replies are posted, signed, to our webhook.
    SANDBOX_MAILGUN_WEBHOOK_URL = env_str(
        "SANDBOX_MAILGUN_WEBHOOK_URL", f"{SANDBOX_BASE_URL}/anymail/mailgun/inbound_mime/"
    )
    # The sandbox's Mailgun verifies DKIM and stamps Authentication-Results as this relay.
    INBOUND_AUTHSERV_ID = INBOUND_AUTHSERV_ID or "mx.mailgun.sandbox.localhost"  # noqa: F405
# Public on purpose, like SECRET_KEY above: production requires its own.
ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = (  # noqa: F405
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] or "key-development-only-mailgun-signing"  # noqa: F405
)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")


def _local_field_encryption_key() -> list[str]:
    """A key generated once per checkout, kept out of git, so local data stays readable."""
    key_file = VAR_DIR / "field_encryption.key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(Fernet.generate_key())
        os.chmod(key_file, 0o600)
    return [key_file.read_text().strip()]


FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEY or _local_field_encryption_key()

# WhiteNoise serves from the app folders in development; it only needs the root to exist.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
