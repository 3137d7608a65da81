"""Inbound mail's Prometheus metric: what became of each routed message or webhook post.

Counted in the process that received it: the web process for the webhook, the
`ingest_mail` command for an MTA's pipe (a short-lived process whose count is kept only
in multiprocess mode, PROMETHEUS_MULTIPROC_DIR; see core/metrics.py). Among gunicorn's
workers each counts its own posts, so /metrics adds them up only in multiprocess mode.
"""

from prometheus_client import Counter

INBOUND_OUTCOMES = Counter(
    "threadline_inbound_messages",
    "Routed messages and webhook posts by outcome: stored, duplicate, dropped (not of "
    "interest) or refused (by the service, or by the webhook before it: bad signature, "
    "replayed token, too large, unreadable post).",
    ["outcome"],
)


def record_outcome(outcome: str) -> None:
    INBOUND_OUTCOMES.labels(outcome=outcome).inc()
