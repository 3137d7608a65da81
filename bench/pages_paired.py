"""Benchmark: the Emails tab served by two versions of Threadline side by side, for a change
too small for single runs to show on a shared machine (issue 13, item 4).

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/pages_paired.py --before /tmp/before --after . [--pairs 150]

One SQLite database in a temporary folder, with `bench/workspace_pages.py`'s data (one
candidate with --threads threads of three messages, among --candidates others), migrated
by the "after" tree. Each tree is served by its own gunicorn (one sync worker, as deployed
but for the worker count) on a loopback port, both on that database. The script fetches
the candidate's Emails tab over HTTP, as a Team Member and as an Admin, alternating single
requests between the two servers (ABBA), so that both see the same moments of a noisy
machine. Printed: each side's median milliseconds, the median of the paired ratios
(after / before) and each page's size. `--before` and `--after` the same tree measures the
harness itself (a ratio near 1.00).

The code under test runs in the servers, each from its own tree; this process only
builds the data (with the "after" tree) and sends requests.
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local_django import django_in  # noqa: E402 (after the path that finds it)

PORTS = (8301, 8302)
VIEWERS = {"Team Member": "recruiter0@bench.test", "Admin": "admin@bench.test"}


def _data(threads: int, candidates: int) -> tuple[str, dict[str, str]]:
    """The Emails tab's path and a signed-in session per viewer (database sessions, so
    that both servers accept them)."""
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from bench.workspace_pages import _threads_for, team_and_candidates

    team = team_and_candidates(candidates)
    _threads_for(team.candidates, recruiters=team.recruiters, count=threads)
    _threads_for([team.busy], recruiters=team.recruiters, count=threads, first=threads)
    sessions = {}
    for viewer, address in VIEWERS.items():
        client = Client()
        client.force_login(User.objects.get(email=address))
        sessions[viewer] = client.cookies["sessionid"].value
    return reverse("mailsync:emails", args=[team.busy.pk]), sessions


def _serve(tree: Path, port: int, workdir: Path) -> subprocess.Popen:
    environment = dict(os.environ, PYTHONPATH=str(tree))  # the tree's own code first
    return subprocess.Popen(  # noqa: S603 (this venv's gunicorn, our own arguments)
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--workers=1",
            f"--bind=127.0.0.1:{port}",
            f"--chdir={tree}",
        ],
        env=environment,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _ready(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _fetch(connection: http.client.HTTPConnection, path: str, session: str) -> tuple[float, int]:
    started = time.perf_counter()
    connection.request("GET", path, headers={"Cookie": f"sessionid={session}"})
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"{response.status} from port {connection.port}: {body[:200]!r}")
    return elapsed, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a tree: the old version")
    parser.add_argument("--after", type=Path, required=True, help="a tree: the new version")
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--threads", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=100)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="threadline-bench-paired-"))
    django_in(workdir, instrument_templates=False)  # sets the servers' environment too
    path, sessions = _data(args.threads, args.candidates)
    servers = [
        _serve(tree.resolve(), port, workdir)
        for tree, port in zip((args.before, args.after), PORTS, strict=True)
    ]
    try:
        for port in PORTS:
            _ready(port)
        connections = [http.client.HTTPConnection("127.0.0.1", port) for port in PORTS]
        print(f"Emails tab, page of 10 threads (of {args.threads}); {args.pairs} pairs a viewer")
        print(f"{'viewer':<12} {'before ms':>10} {'after ms':>9} {'after/before':>13} {'KB':>9}")
        for viewer, session in sessions.items():
            for connection in connections:  # warm-up: templates compiled, connections open
                for _ in range(5):
                    _fetch(connection, path, session)
            times: list[list[float]] = [[], []]
            ratios = []
            for pair in range(args.pairs):
                order = (0, 1) if pair % 2 == 0 else (1, 0)
                this = {side: _fetch(connections[side], path, session)[0] for side in order}
                times[0].append(this[0])
                times[1].append(this[1])
                ratios.append(this[1] / this[0])
            sizes = "/".join(str(_fetch(c, path, session)[1] // 1024) for c in connections)
            print(
                f"{viewer:<12} {statistics.median(times[0]):>10.1f} "
                f"{statistics.median(times[1]):>9.1f} {statistics.median(ratios):>13.3f} "
                f"{sizes:>9}"
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
