"""Benchmark: the Emails tab with a deeply nested HTML reply (issue 9, observation 4).

    .venv/bin/python bench/render_hostile_html.py [--runs 5] [--old-timeout 60]

A fresh SQLite database in a temporary folder; one candidate whose thread holds a reply
of N nested <div>s, each with a word of text, and no text part (our worst case: the text
shown must be extracted from the HTML), for N giving 250 KB, 500 KB, 1 MB and 2 MB; plus
a plain text reply and an ordinary 50 KB HTML newsletter for comparison. For each: the
time to store the reply (all of `message_store`, and `prepare_html_for_storage` alone),
then the Emails tab fetched through Django's test client, median of --runs after one
warm-up. Last, what the old code spent per render (`clean_email_html`: two nh3 passes, run
by the template on every render) on small nested replies and on the 1 MB one, each in a
child process stopped after --old-timeout seconds. Figures go to docs/benchmarks.md.
"""

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local_django import django_in  # noqa: E402 (after the path that finds it)

NESTED_UNIT = "<div>lorem "
SIZES = {"250 KB": 250 * 1024, "500 KB": 500 * 1024, "1 MB": 1024 * 1024, "2 MB": 2048 * 1024}


def nested_html(size: int) -> str:
    return NESTED_UNIT * (size // len(NESTED_UNIT))


def newsletter_html(size: int) -> str:
    row = (
        '<tr><td style="padding:8px;font-family:Arial"><a href="https://example.com/job">'
        "Platform Engineer</a> in Berlin, <b>full time</b>. "
        '<img src="https://cdn.example.com/logo.png" width="20"></td></tr>'
    )
    return "<html><body><table>" + row * (size // len(row)) + "</table></body></html>"


def _old_render(html: str) -> None:
    from candidates.rendering import clean_email_html

    clean_email_html(html)  # what the old template tag ran on every render


def _time_old_render(html: str, timeout: float) -> float | None:
    """Seconds the old code spent cleaning `html` on one render, or None past `timeout`."""
    process = multiprocessing.get_context("fork").Process(target=_old_render, args=(html,))
    started = time.perf_counter()
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join()
        return None
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-timeout", type=float, default=60.0)
    args = parser.parse_args()
    django_in(Path(tempfile.mkdtemp(prefix="threadline-bench-html-")))

    from django.test import Client
    from django.urls import reverse

    from accounts.models import Organisation, Role, User
    from candidates.models import Candidate, CandidateEmail, EmailThread
    from candidates.rendering import prepare_html_for_storage
    from mailsync.ingest import message_store
    from mailsync.mime import build_message, parse_message

    organisation = Organisation.objects.create(
        name="Bench Co", slug="bench", email_provider="google"
    )
    user = User.objects.create_user(
        "riley@bench.test", "x", organisation=organisation, role=Role.TEAM_MEMBER
    )
    client = Client()
    client.force_login(user)

    cases = {"plain text reply": ""}
    cases |= {f"nested, {label}": nested_html(size) for label, size in SIZES.items()}
    cases["newsletter, 50 KB"] = newsletter_html(50 * 1024)
    print(
        f"{'reply':<20} {'HTML':>9} {'prepare':>9} {'store':>9} {'tab (median)':>13} "
        f"{'page':>9} {'shown as':>9}"
    )
    for label, html in cases.items():
        candidate = Candidate.objects.create(organisation=organisation, full_name=label)
        CandidateEmail.objects.create(
            organisation=organisation,
            candidate=candidate,
            address=f"c{candidate.pk.hex[:8]}@x.test",
        )
        thread = EmailThread.objects.create(
            organisation=organisation, candidate=candidate, owner=user, subject="Hello"
        )
        raw = build_message(
            from_address="candidate@x.test",
            from_name="Candidate",
            to=[user.email],
            subject="Re: Hello",
            body_text="" if html else "Thanks, Tuesday works for me.",
            body_html=html,
            message_id=f"<{candidate.pk.hex}@x.test>",
            threadline_ref="",
        )
        started = time.perf_counter()
        stored_html = prepare_html_for_storage(html)
        prepare_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        # The candidate wrote the reply: no author among our users.
        message = message_store(thread=thread, parsed=parse_message(raw), author=None).message
        store_ms = (time.perf_counter() - started) * 1000
        url = reverse("mailsync:emails", args=[candidate.pk])
        assert client.get(url).status_code == 200  # warm-up
        timings, size = [], 0
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            size = len(response.content)
        message.refresh_from_db()
        shown = "text" if message.html_too_complex or not html else "HTML"
        assert stored_html.too_complex == message.html_too_complex
        print(
            f"{label:<20} {len(html) / 1024:>6.0f} KB {prepare_ms:>6.0f} ms {store_ms:>6.0f} ms "
            f"{statistics.median(timings):>10.1f} ms {size / 1024:>6.0f} KB {shown:>9}"
        )

    print("\nold code (nh3 at every render), nested replies:")
    for kb in (16, 32, 64, 128):
        seconds = _time_old_render(nested_html(kb * 1024), args.old_timeout)
        print(f"  {kb:>4} KB: " + (f"{seconds:.2f} s per render" if seconds else "stopped"))
    old = _time_old_render(cases["nested, 1 MB"], args.old_timeout)
    candidate = Candidate.objects.get(full_name="nested, 1 MB")
    url = reverse("mailsync:emails", args=[candidate.pk])
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        client.get(url)
        timings.append(time.perf_counter() - started)
    new_tab = statistics.median(timings)
    new_ms = new_tab * 1000
    if old is None:
        print(
            f"old code, 1 MB nested: stopped after {args.old_timeout:.0f} s of one render; "
            f"over {args.old_timeout / new_tab:,.0f} times the new tab's {new_ms:.0f} ms"
        )
    else:
        print(
            f"old code, 1 MB nested: {old:.1f} s per render, "
            f"{old / new_tab:,.0f} times the new tab's {new_ms:.0f} ms"
        )


if __name__ == "__main__":
    main()
