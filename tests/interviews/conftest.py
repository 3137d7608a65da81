# The mail tests' worlds (a recruiter and a candidate with sandbox mailboxes on each
# provider), shared rather than rebuilt: scheduling happens in those same accounts.
from tests.mailsync.conftest import (
    _fresh_quota,
    gmail_world,
    outlook_world,
    tasks_in_process,
    world,
)

__all__ = ["_fresh_quota", "gmail_world", "outlook_world", "tasks_in_process", "world"]
