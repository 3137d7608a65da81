"""Failed sign-ins are limited per account and per client, and behind the TLS proxy the
README recommends a "client" is the browser, not the proxy (issue 9, observation 8)."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

PROXY = "10.0.0.2"  # every request arrives from the proxy's own address
TOO_MANY = "Too many failed login attempts"


def _sign_in(*, login: str, password: str, forwarded_for: str | None = None):
    """One browser's attempt, through the proxy: a fresh client, so no cookie is shared."""
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return Client().post(
        reverse("account_login"),
        {"login": login, "password": password},
        headers=headers,
        REMOTE_ADDR=PROXY,
    )


def _fail_five_times(*, forwarded_for: str) -> None:
    for attempt in range(5):
        response = _sign_in(
            login=f"made-up-{attempt}@nowhere.test", password="x", forwarded_for=forwarded_for
        )
        assert TOO_MANY not in response.content.decode()


def test_behind_one_proxy_one_clients_failures_do_not_lock_out_another_client(team, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    # The attacker forges a first entry; the proxy appends the address it really saw.
    _fail_five_times(forwarded_for="198.51.100.7, 203.0.113.5")

    attacker_again = _sign_in(
        login=team.admin.email, password=PASSWORD, forwarded_for="198.51.100.9, 203.0.113.5"
    )
    colleague = _sign_in(
        login=team.team_member.email, password=PASSWORD, forwarded_for="198.51.100.7"
    )

    assert TOO_MANY in attacker_again.content.decode()
    assert not attacker_again.wsgi_request.user.is_authenticated
    assert colleague.status_code == 302
    assert colleague.wsgi_request.user == team.team_member


def test_behind_one_proxy_the_per_account_limit_still_holds_across_clients(team, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    for client_number in range(5):
        _sign_in(login=team.admin.email, password="x", forwarded_for=f"203.0.113.{client_number}")

    blocked = _sign_in(login=team.admin.email, password=PASSWORD, forwarded_for="203.0.113.99")
    other_account = _sign_in(
        login=team.team_member.email, password=PASSWORD, forwarded_for="203.0.113.99"
    )

    assert TOO_MANY in blocked.content.decode()
    assert not blocked.wsgi_request.user.is_authenticated
    assert other_account.wsgi_request.user == team.team_member


def test_without_trusted_proxies_a_forged_forwarded_for_is_ignored(team, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    # One client (one REMOTE_ADDR) pretending to be five others.
    for attempt in range(5):
        _sign_in(
            login=f"made-up-{attempt}@nowhere.test",
            password="x",
            forwarded_for=f"203.0.113.{attempt}",
        )

    blocked = _sign_in(login=team.admin.email, password=PASSWORD, forwarded_for="203.0.113.99")

    assert TOO_MANY in blocked.content.decode()
    assert not blocked.wsgi_request.user.is_authenticated


def test_a_forwarded_for_shorter_than_the_proxy_chain_is_refused_not_a_server_error(team, settings):
    # Two proxies of ours would have left two entries: this request went around them.
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2

    response = _sign_in(login=team.admin.email, password=PASSWORD, forwarded_for="203.0.113.5")

    assert response.status_code == 403


def _allauth_setting(name: str, *, environment: dict[str, str]) -> subprocess.CompletedProcess:
    """allauth's view of a setting in a fresh process started with `environment`."""
    inherited = {k: v for k, v in os.environ.items() if k != "TRUSTED_PROXY_COUNT"}
    return subprocess.run(  # noqa: S603 (our own manage.py with fixed arguments)
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            f"from allauth import app_settings; print(app_settings.{name})",
        ],
        cwd=settings.BASE_DIR,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings.test", **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("environment", "expected"), [({"TRUSTED_PROXY_COUNT": "1"}, "1"), ({}, "0")]
)
def test_trusted_proxy_count_from_the_environment_reaches_allauths_rate_limits(
    environment, expected
):
    result = _allauth_setting("TRUSTED_PROXY_COUNT", environment=environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_negative_trusted_proxy_count_refuses_to_start():
    result = _allauth_setting("TRUSTED_PROXY_COUNT", environment={"TRUSTED_PROXY_COUNT": "-1"})

    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be 0 or more" in result.stderr
