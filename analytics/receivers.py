"""Analytics' answers to events of the apps below it (connected in AnalyticsConfig.ready)."""

from __future__ import annotations

from django.dispatch import receiver

from analytics.results import results_invalidate
from stages.signals import snapshots_restated


@receiver(snapshots_restated, dispatch_uid="analytics.snapshots_restated")
def on_snapshots_restated(sender, report: str, **kwargs) -> None:
    """Stored daily counts changed under a report: its cached and stored results are recomputed when next read."""
    results_invalidate(report=report)
