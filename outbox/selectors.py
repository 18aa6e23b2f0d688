"""Reads of the outbox: the backlog and its lag, for the readiness probe and the admin."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from outbox.models import OutboxEvent


def outbox_backlog() -> dict[str, Any]:
    """How many events wait to be published, and how long the oldest has waited (seconds).

    One aggregate over the pending partial index; the lag is what readiness alerts on.
    """
    row = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        pending=Count("id"), oldest=Min("created_at"), failing=Count("id", filter=Q(attempts__gt=0))
    )
    oldest = row["oldest"]
    return {
        "pending": row["pending"],
        "failing": row["failing"],
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "lag_seconds": round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0.0,
    }
