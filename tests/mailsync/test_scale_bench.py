"""The scale benchmark (bench/scale.py) at a reduced size: beat's fan-out over 40 connected
mailboxes, synced by one worker and then by two, stores every reply once. Its figures are
not checked here; docs/benchmarks.md records them."""

import json
import subprocess
import sys

import pytest
from django.conf import settings

DATABASE = settings.DATABASES["default"]
ON_POSTGRES_AND_REDIS = DATABASE["ENGINE"].endswith("postgresql") and str(
    settings.CELERY_BROKER_URL
).startswith("redis://")


def _server_url() -> str:
    """The test database's server, at its maintenance database: the bench creates its own."""
    user = DATABASE.get("USER") or "postgres"
    password = f":{DATABASE['PASSWORD']}" if DATABASE.get("PASSWORD") else ""
    host = DATABASE.get("HOST") or "127.0.0.1"
    port = DATABASE.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/postgres"


@pytest.mark.skipif(
    not ON_POSTGRES_AND_REDIS,
    reason="the bench needs PostgreSQL and Redis; CI's second run has them",
)
def test_every_mailbox_stores_its_reply_once_with_one_and_two_workers():
    bench = subprocess.run(  # noqa: S603 (our own bench script)
        [
            sys.executable,
            "bench/scale.py",
            "--mailboxes",
            "40",
            "--workers",
            "1,2",
            "--database-url",
            _server_url(),
            "--broker-url",
            settings.CELERY_BROKER_URL,
            "--sandbox-workers",
            "1",
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert bench.returncode == 0, bench.stdout + bench.stderr
    result = next(line for line in bench.stdout.splitlines() if line.startswith("result: "))
    runs = json.loads(result.removeprefix("result: "))
    assert [run["workers"] for run in runs] == [1, 2]
    for run in runs:
        assert run["stored"] == run["mailboxes"] == 40, bench.stdout
        assert run["duplicates"] == 0, bench.stdout
        assert run["stored_twice"] == 0, bench.stdout
        assert run["ok_rounds"] == 40, bench.stdout
