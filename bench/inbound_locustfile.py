"""Locust users for bench/inbound.py: Mailgun posting routed mail to the inbound webhook.

Run by bench/inbound.py, which seeds the database, writes corpus.json into
$BENCH_INBOUND_DIR and puts the checkout on PYTHONPATH. Each user posts, with no pause,
one message after another as Mailgun's route `forward()` does: multipart/form-data with
the whole message in `body-mime`, signed afresh (`bench.inbound.mailgun_post`), built
as it goes or, with $BENCH_INBOUND_PREBUILT, all built before the run starts. The
kinds and their weights are `bench.inbound.MIX`; each post is named after its kind in
locust's statistics, fails there unless it met its kind's outcome, and is written as one
line to requests.jsonl for the script's checks against the database; locust's own
figures go to locust_stats.json when it quits.
"""

import json
import os
import time
from collections import deque
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import django
import gevent
from locust import FastHttpUser, constant, events, task

from bench.inbound import MIX, WEBHOOK_PATH, Mail, mailgun_post

django.setup()  # mailgun_post signs with the sandbox's Mailgun

WORKDIR = Path(os.environ["BENCH_INBOUND_DIR"])
CORPUS = json.loads((WORKDIR / "corpus.json").read_text())
LOG = (WORKDIR / "requests.jsonl").open("a", buffering=1)


@events.quitting.add_listener
def _write_stats(environment, **kwargs) -> None:
    """Locust's final figures (its CSV is written before the last posts have finished)."""
    LOG.close()
    entries = [*environment.stats.entries.values(), environment.stats.total]
    by_name = {
        entry.name: {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "per_second": entry.total_rps,
            **{f"p{p}": entry.get_response_time_percentile(p / 100) for p in (50, 95, 99)},
            "max": entry.max_response_time,
        }
        for entry in entries
    }
    figures = {"requests": by_name, "cpu_seconds": time.process_time() - RUN.cpu_at_start}
    (WORKDIR / "locust_stats.json").write_text(json.dumps(figures, indent=2))


class Post:
    """One message as Mailgun will post it."""

    def __init__(self, mail: Mail) -> None:
        self.outgoing = mail.make(mail.any_kind())
        self.body, self.content_type = mailgun_post(CORPUS, self.outgoing)


# --prebuilt N: every post built and signed before the clock starts, so that locust only
# sends bytes and the run measures the server; the run ends when they are all answered.
PREBUILT_COUNT = int(os.environ.get("BENCH_INBOUND_PREBUILT") or 0)
PREBUILT: deque[Post] = deque()
RUN = SimpleNamespace(in_flight=0, cpu_at_start=0.0)


@events.init.add_listener
def _prebuild(environment, **kwargs) -> None:
    mail = Mail(CORPUS)
    PREBUILT.extend(Post(mail) for _ in range(PREBUILT_COUNT))


@events.test_start.add_listener
def _start(environment, **kwargs) -> None:
    RUN.cpu_at_start = time.process_time()
    if PREBUILT_COUNT:
        gevent.spawn(_quit_when_all_answered, environment)


def _quit_when_all_answered(environment) -> None:
    while PREBUILT or RUN.in_flight:
        gevent.sleep(0.1)
    environment.runner.quit()


class Mailgun(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.mail = Mail(CORPUS)

    @task
    def deliver(self) -> None:
        if not PREBUILT_COUNT:
            post = Post(self.mail)
        elif PREBUILT:
            post = PREBUILT.popleft()
        else:
            gevent.sleep(1)  # all sent: the watcher ends the run
            return
        RUN.in_flight += 1
        try:
            self._post(post)
        finally:
            RUN.in_flight -= 1

    def _post(self, post: Post) -> None:
        kind = post.outgoing.kind
        expected = MIX[kind][1]
        started = time.time()
        with self.client.post(
            WEBHOOK_PATH,
            # The multipart body is bytes, which FastHttpSession sends as they are; its
            # annotation names only str and dict (mypy sees it once locust is installed).
            data=cast(Any, post.body),
            headers={"Content-Type": post.content_type},
            name=kind,
            catch_response=True,
        ) as response:
            try:
                outcome = response.json().get("status", "")
            except (ValueError, TypeError, AttributeError):  # no answer, or not JSON
                outcome = ""
            if response.status_code != 200 or outcome != expected:
                response.failure(f"{response.status_code} {outcome or 'no JSON'}, not {expected}")
        record = {
            "kind": kind,
            "status": response.status_code,
            "outcome": outcome,
            "message_id": post.outgoing.message_id,
            "bytes": len(post.body),
            "mime_bytes": len(post.outgoing.raw),
            "started": started,
            "ended": time.time(),
        }
        LOG.write(json.dumps(record) + "\n")
