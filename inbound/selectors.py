from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from inbound import policy


def inbound_summary(*, user: User, days: int = 7) -> dict[str, int]:
    """Routed messages received in the last `days` days, by outcome."""
    since = timezone.localdate() - timedelta(days=days - 1)
    rows = (
        policy.visible_inbound_tallies(user)
        .filter(day__gte=since)
        .values("outcome")
        .annotate(total=Sum("count"))
    )
    return {row["outcome"]: row["total"] for row in rows}
