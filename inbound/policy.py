"""Who may see what routed mail left behind. Roles are decided in accounts/policy.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from accounts.policy import can_manage_company_settings
from inbound.models import DailyTally

if TYPE_CHECKING:
    from accounts.models import User


def visible_inbound_tallies(user: User) -> QuerySet[DailyTally]:
    """Counts of routed mail received for the organisation: Super Admins, who set it up."""
    if not can_manage_company_settings(user):
        return DailyTally.objects.none()
    # can_manage_company_settings() admits members only, whose organisation_id is set.
    return DailyTally.objects.filter(organisation_id=user.organisation_id)  # type: ignore[misc]
