"""What people see of automatic ingestion: its rules (Settings > Company and My account),
the progress of the user's own job on My account (polled while it runs), and "why wasn't
a conversation synced?" with the user's own dates. The job itself is the ingestion engine's;
these pages only read its row and the rules in `mailsync.ingestion_rules`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format

from accounts import policy as accounts_policy
from accounts.access import MemberRequest, member_required
from accounts.models import Organisation, User
from mailsync.ingestion_rules import SkipRule, active_since, history_start
from mailsync.models import IngestionJob, MailboxConnection
from mailsync.selectors import my_ingestion_job, my_ingestion_job_get

# What is ingested, said once for both pages.
INGESTED = (
    "One-on-one conversations with your candidates from up to a year before each user "
    "authorizes, in threads active in the last six months. Ingested threads are Private to "
    "the user, who can share them with the organisation."
)
UNREADABLE = "Could not be read, and was left out"
ACTIVE_STATES = (IngestionJob.State.QUEUED, IngestionJob.State.RUNNING)


@dataclass(frozen=True)
class RuleLine:
    """One rule as a page shows it: its sentence, and for one user what it means for them
    (`detail`) or how many threads their job left out by it (`count`)."""

    code: str
    sentence: str
    detail: str = ""
    count: int = 0


def ingestion_rule_lines() -> list[RuleLine]:
    """The rules a thread can break, as Settings > Company lists them."""
    return [RuleLine(rule.value, rule.label) for rule in SkipRule]


@member_required
def ingestion_progress(request: MemberRequest, job_id: int) -> HttpResponse:
    """The progress panel alone, which My account polls every 2 s while the job runs."""
    job = my_ingestion_job_get(user=request.user, job_id=job_id)
    return render(request, "accounts/_ingestion_panel.html", ingestion_panel(job))


def ingestion_panel(job: IngestionJob | None) -> dict[str, Any]:
    """What the panel shows of a job: counts, each rule's skips, and whether it polls."""
    if job is None:
        return {"ingestion_job": None}
    skipped = [
        RuleLine(rule.value, rule.label, count=getattr(job, f"skipped_{rule.value}"))
        for rule in SkipRule
    ]
    handled = job.ingested + job.already_there + job.skipped_unreadable
    handled += sum(line.count for line in skipped)
    return {
        "ingestion_job": job,
        "ingestion_active": job.state in ACTIVE_STATES,
        "ingestion_skipped": skipped,
        "ingestion_handled": handled,
        "ingestion_percent": round(100 * handled / job.found) if job.found else 0,
        "ingestion_unreadable": UNREADABLE,
    }


def my_account_ingestion(user: User, mailbox: MailboxConnection | None) -> dict[str, Any]:
    """My account's part: the user's job, if their mailbox has one, and the explanation."""
    job = my_ingestion_job(user=user)
    return {**ingestion_panel(job), **_why_not_synced(user, mailbox, job)}


def _why_not_synced(
    user: User, mailbox: MailboxConnection | None, job: IngestionJob | None
) -> dict[str, Any]:
    """The rules with this user's dates: their job's window, or the one an authorization
    now would get; and whether ingestion is on for their organisation at all."""
    if job is not None:
        since, active = job.since, job.active_since
    else:
        now = timezone.now()
        since, active = history_start(now), active_since(now)
    address = mailbox.account_address if mailbox else user.email
    details = {
        SkipRule.OWN_DOMAIN: f"for you: anyone at @{address.rpartition('@')[2]}",
        SkipRule.INACTIVE: (
            f"for you: nothing before {_day(since)} is ingested, nor a thread with no "
            f"message since {_day(active)}"
        ),
    }
    organisation = user.organisation
    assert organisation is not None  # My account is for members (member_required)
    if not organisation.offers_auto_ingestion:
        status = "unavailable"
    elif not organisation.auto_ingestion_enabled:
        status = "off"
    else:
        status = "on"
    return {
        "why_rules": [
            RuleLine(rule.value, rule.label, detail=details.get(rule, "")) for rule in SkipRule
        ],
        "why_since": _day(since),
        "why_active_since": _day(active),
        "why_status": status,
        "why_level": Organisation.SyncLevel(organisation.email_sync_level).label,
        "why_can_turn_on": accounts_policy.can_manage_company_settings(user),
        "ingested_rule": INGESTED,
    }


def _day(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "j M Y")
