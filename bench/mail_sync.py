"""Benchmark: full sync of a large mailbox through the sandbox, over real HTTP.

    .venv/bin/python bench/mail_sync.py --provider google|microsoft [--messages 100000]

A recruiter's mailbox receives N new messages after the last sync: 1 % belong to threads
started in Threadline (our sent messages, candidates' replies in the same provider
thread, and replies whose edited subject put them in a thread of their own), the rest is
unrelated mail. The script then runs `manage.py sync_mailboxes` as an operator would, in
its own process, against the sandbox served by gunicorn (over HTTPS for Microsoft), and
prints what the provider saw (API calls, HTTP round trips, Gmail quota units, with a table
of units per message by purpose) and what it cost locally. Then it adds 1 % more mail and
runs an incremental sync. Figures go to docs/benchmarks.md.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(workdir: Path, port: int, tls_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "THREADLINE_VAR_DIR": str(workdir),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "SANDBOX": "1",
        "DEBUG": "0",
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}",
        "SANDBOX_TLS_URL": f"https://127.0.0.1:{tls_port}",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return env


def _serve(
    env: dict[str, str], port: int, tls: Sequence[str] = (), *, workers: int = 1
) -> subprocess.Popen:
    scheme = "https" if tls else "http"
    server = subprocess.Popen(  # noqa: S603 (our own app under gunicorn)
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--log-level",
            "warning",
            *tls,
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            requests.get(f"{scheme}://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


# Runs manage.py and reports its own peak resident memory when it exits. VmHWM, not
# ru_maxrss: Linux carries ru_maxrss across exec, so a child would report its parent's.
_MEASURED = (
    "import atexit, runpy, sys\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('peak_rss_kib', line.split()[1], file=sys.stderr)\n"
    "atexit.register(_peak)\n"
    "sys.argv = ['manage.py', *sys.argv[1:]]\n"
    "runpy.run_path('manage.py', run_name='__main__')\n"
)


def _sync(env: dict[str, str], address: str) -> tuple[float, float, str]:
    """Run the operator's command in a child process; (seconds, peak RSS MiB, its output)."""
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "-c", _MEASURED, "sync_mailboxes", "--user", address],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    peak_kib = next(
        int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("peak_rss")
    )
    return seconds, peak_kib / 1024, result.stdout.strip()


def _print_quota_table(rows: list[tuple]) -> None:
    print(
        f"{'Gmail quota units':<46}{'calls':>7}{'units':>8}{'/new msg':>10}"
        f"{'/stored':>9}{'bytes/answer':>14}"
    )
    for what, calls, units, per_new, per_stored, size in rows:
        print(
            f"{what:<46}{calls:>7,}{units:>8,}"
            f"{'' if per_new is None else f'{per_new:.3f}':>10}"
            f"{'' if per_stored is None else f'{per_stored:.2f}':>9}"
            f"{'' if size is None else f'{size:,}':>14}"
        )


def _run_sync(env, scenario, *, new_messages: int) -> dict:
    from candidates.models import EmailMessage

    baseline = scenario.log_position()
    stored_before = EmailMessage.objects.count()
    seconds, peak, output = _sync(env, scenario.recruiter_address)
    print("sync:", output)
    figures = scenario.figures(since=baseline, seconds=seconds, peak_mib=peak)
    print(json.dumps(figures, indent=2))
    if scenario.connection.provider == "google":
        stored = EmailMessage.objects.count() - stored_before
        _print_quota_table(
            scenario.quota_per_message(since=baseline, new_messages=new_messages, stored=stored)
        )
    return figures


@contextmanager
def sandbox_served(*, prefix: str) -> Iterator[dict[str, str]]:
    """A fresh SQLite database in a temporary folder, migrated, with the sandbox served by
    gunicorn over HTTP and (for Microsoft) HTTPS; yields the environment for child
    processes (this process is set up with it too)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    port, tls_port = _free_port(), _free_port()
    env = _environment(workdir, port, tls_port)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    env["REQUESTS_CA_BUNDLE"] = os.environ["REQUESTS_CA_BUNDLE"]  # set by the settings
    tls = ["--certfile", str(settings.SANDBOX_TLS.certificate)]
    tls += ["--keyfile", str(settings.SANDBOX_TLS.key)]
    servers = [_serve(env, port), _serve(env, tls_port, tls)]
    try:
        yield env
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["google", "microsoft"], default="google")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--interest-share", type=float, default=0.01)
    args = parser.parse_args()

    with sandbox_served(prefix="threadline-bench-") as env:
        from django.db import connection

        from bench.scenario import Scenario

        scenario = Scenario.create(
            provider=args.provider, messages=args.messages, share=args.interest_share
        )
        print(
            f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"database {connection.vendor}"
        )
        print(
            f"provider: {args.provider}; mailbox: {args.messages:,} new messages, "
            f"{scenario.interest_count:,} in Threadline threads ({scenario.split_threads} in "
            "provider threads of their own)"
        )
        print(f"initial sync of {args.messages:,} new messages")
        _run_sync(env, scenario, new_messages=args.messages)

        more = max(args.messages // 100, 100)
        scenario.add_mail(messages=more, share=args.interest_share)
        print(f"incremental sync of {more:,} new messages")
        _run_sync(env, scenario, new_messages=more)

        if args.provider == "google":
            print("headers-only answer size (metadata get):")
            print(json.dumps(scenario.header_check_answer_bytes(), indent=2))

        print("local pipeline (parse, match, encrypt, store):")
        print(json.dumps(scenario.local_pipeline(count=2_000), indent=2))


if __name__ == "__main__":
    main()
