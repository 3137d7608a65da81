"""What an operator relies on: the demo seed, start-up checks, and the task broker."""

import os
import secrets
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command

from accounts.models import Organisation, Role, User
from candidates.models import Application, Candidate, CandidateEmail, Posting
from sandbox.models import Mailbox as SandboxMailbox
from sandbox.models import Message as SandboxMessage

BASE_DIR = Path(settings.BASE_DIR)


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Organisation, User, Posting, Candidate, CandidateEmail, Application)
    }


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_logins():
    first_out, second_out = StringIO(), StringIO()

    call_command("seed_demo", stdout=first_out)
    after_first = _counts()
    call_command("seed_demo", stdout=second_out)

    assert _counts() == after_first
    assert after_first["Candidate"] == 70
    assert after_first["User"] == 8
    assert Organisation.objects.get(slug="demo-microsoft").email_provider == "microsoft"
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    for email in ("superadmin@demo.test", "admin@demo.test", "recruiter@demo.test"):
        assert email in first_out.getvalue()
    assert "limited@demo.test" in first_out.getvalue()
    assert "password: threadline-demo" in first_out.getvalue().splitlines()

    def logins(output: StringIO) -> list[str]:
        return [line for line in output.getvalue().splitlines() if "Sandbox" not in line]

    assert logins(first_out)[:-1] == logins(second_out)
    assert logins(first_out)[-1].startswith("Sync health: throttled@demo.test's mailbox")
    assert "Sandbox mailboxes: 78 created" in first_out.getvalue()
    assert "Sandbox mailboxes: 0 created" in second_out.getvalue()
    assert SandboxMailbox.objects.count() == 78
    assert SandboxMailbox.objects.get(address="recruiter@contoso.test").provider == "microsoft"
    assert SandboxMessage.objects.filter(mailbox__address="recruiter@demo.test").count() == 300
    limited = User.objects.get(email="limited@demo.test")
    assert limited.check_password("threadline-demo")


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (our own manage.py with fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_starting_with_the_wrong_field_encryption_key_fails_loudly(tmp_path):
    database = f"sqlite:///{tmp_path / 'keycheck.sqlite3'}"
    base_env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DATABASE_URL": database,
        "THREADLINE_VAR_DIR": str(tmp_path),
    }
    right_key = Fernet.generate_key().decode()
    wrong_key = Fernet.generate_key().decode()

    migrated = _manage("migrate", "--noinput", env={**base_env, "FIELD_ENCRYPTION_KEY": right_key})
    started = _manage(
        "check", "--database", "default", env={**base_env, "FIELD_ENCRYPTION_KEY": right_key}
    )
    refused = _manage(
        "check", "--database", "default", env={**base_env, "FIELD_ENCRYPTION_KEY": wrong_key}
    )
    rotated = _manage(
        "check",
        "--database",
        "default",
        env={**base_env, "FIELD_ENCRYPTION_KEY": f"{wrong_key},{right_key}"},
    )

    assert migrated.returncode == 0, migrated.stderr
    assert started.returncode == 0, started.stderr
    assert refused.returncode != 0
    assert "FIELD_ENCRYPTION_KEY cannot decrypt the data in this database" in refused.stderr
    assert rotated.returncode == 0, rotated.stderr


def _production_env() -> dict[str, str]:
    """What production settings require, as an operator would set it (no real hosts)."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),  # check --deploy judges the key too
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": "postgres://u@db.invalid/threadline",
        "CELERY_BROKER_URL": "redis://broker.invalid:6379/0",
        "ALLOWED_HOSTS": "threadline.example.com",
        "ATTACHMENT_STORAGE_BUCKET": "threadline-attachments",
        "SANDBOX": "0",
    }


@pytest.mark.parametrize(
    "missing,message",
    [
        ("SECRET_KEY", "SECRET_KEY is required"),
        ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY is required"),
        ("DATABASE_URL", "DATABASE_URL is required"),
        ("CELERY_BROKER_URL", "CELERY_BROKER_URL is required"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS is required"),
        ("ATTACHMENT_STORAGE_BUCKET", "ATTACHMENT_STORAGE_BUCKET (S3-compatible object storage)"),
    ],
)
def test_production_settings_refuse_to_start_on_development_defaults(missing, message):
    env = _production_env()
    env.pop(missing)
    clean_env = {k: v for k, v in os.environ.items() if k != missing}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_refuse_the_development_secret_key_and_the_sandbox():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": "postgres://u@db.invalid/threadline",
        "CELERY_BROKER_URL": "redis://broker.invalid:6379/0",
        "ALLOWED_HOSTS": "threadline.example.com",
        "ATTACHMENT_STORAGE_DIR": "/srv/threadline/attachments",
    }

    dev_key = _manage("check", env={**env, "SECRET_KEY": "django-insecure-" + "x" * 60})
    sandbox = _manage("check", env={**env, "SECRET_KEY": "y" * 64, "SANDBOX": "1"})

    assert "SECRET_KEY must be a random value" in dev_key.stderr
    assert "SANDBOX=1 emulates Google and Microsoft; never in production" in sandbox.stderr


def test_check_deploy_warns_of_a_cache_each_process_keeps_to_itself():
    """Limits counted in the cache (sign-ins, Graph's requests in flight) hold across
    processes only with a shared one: the operator's check --deploy says so."""
    # Set in CI's PostgreSQL + Redis pass: unset here.
    env = {**_production_env(), "CACHE_URL": ""}

    per_process = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    shared = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env={**env, "CACHE_URL": "redis://cache.invalid:6379/1"},
    )  # fmt: skip

    assert per_process.returncode != 0
    assert "threadline.W001" in per_process.stderr
    assert "CACHE_URL is not set" in per_process.stderr
    assert shared.returncode == 0, shared.stderr
    assert "threadline.W001" not in shared.stderr + shared.stdout


_IMPORT_EVERY_INSTALLED_MODULE = """
import importlib, pkgutil, sys
import django
django.setup()
from django.apps import apps
from django.conf import settings
importlib.import_module(settings.ROOT_URLCONF)
importlib.import_module("config.celery")
for config in apps.get_app_configs():
    if not config.path.startswith(str(settings.BASE_DIR)) or "site-packages" in config.path:
        continue  # a library's app, not ours (the venv may live inside the project)
    for module in pkgutil.walk_packages([config.path], prefix=f"{config.name}."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
print("faker imported" if "faker" in sys.modules else "faker not imported")
"""


def test_faker_is_a_demo_tool_outside_the_production_runtime():
    env = {**os.environ, **_production_env()}

    imported = subprocess.run(  # noqa: S603 (our own interpreter with a fixed script)
        [sys.executable, "-c", _IMPORT_EVERY_INSTALLED_MODULE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    runtime = (BASE_DIR / "requirements.txt").read_text().lower().splitlines()
    development = (BASE_DIR / "requirements-dev.txt").read_text().lower().splitlines()

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "faker not imported"
    assert not [line for line in runtime if line.startswith("faker")]
    assert [line for line in development if line.startswith("faker==")]


def test_configured_broker_carries_a_message_end_to_end():
    """Publishes to and consumes from whatever CELERY_BROKER_URL names (embedded SQLite
    transport by default, Redis in CI's second run)."""
    from config.celery import app

    queue_name = f"threadline-selftest-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        queue = connection.SimpleQueue(queue_name)
        try:
            queue.put({"ping": queue_name})
            message = queue.get(block=True, timeout=10)
            message.ack()
        finally:
            queue.clear()
            queue.close()

    assert message.payload == {"ping": queue_name}


def test_beat_keeps_its_schedule_in_the_database():
    from config.celery import app

    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
