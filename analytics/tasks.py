"""Celery tasks of the analytics app: thin wrappers over analytics.services."""

import datetime as dt

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=840)
def customer_value_recompute_task(as_of_iso: str) -> dict:
    """Refit the CLV models and rewrite CLV/RFM metrics as of a date (ISO). Idempotent: a rerun rewrites the same."""
    from analytics.services import customer_value_recompute

    return customer_value_recompute(as_of=dt.date.fromisoformat(as_of_iso)).as_dict()


# Not acks_late: it may run longer than the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT),
# which would hand a running task out twice; a worker killed during it leaves yesterday's snapshots.
@shared_task(acks_late=False, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=3 * 3600)
def report_snapshots_refresh_task() -> dict:
    """Store the default report queries' results for today (nightly, after the recompute). Idempotent: upserts."""
    from analytics.services import report_snapshots_refresh

    return report_snapshots_refresh().as_dict()


@shared_task(acks_late=True, time_limit=600, expires=600)
def overview_warm_task() -> list[str]:
    """Recompute the unfiltered overview for the snapshotted preset periods into the shared cache.

    Scheduled more often than CRM_DASHBOARD_CACHE_SECONDS, so the default views are always
    served from the cache: the KPI cards and each chart on its own key, the keys the page
    and its chart fragments read. The charts come from the nightly report snapshots, so a
    warm costs only the KPI queries. Idempotent; a late run is dropped (`expires`), not queued up.
    Returns the cache keys written (cards first, then one per chart).
    """
    from django.conf import settings

    from analytics.views import overview_warm

    return overview_warm(periods=tuple(getattr(settings, "CRM_REPORT_SNAPSHOT_PERIODS", None) or ("30d",)))


@shared_task(acks_late=True, time_limit=600, expires=300)
def daily_facts_compact_task() -> int:
    """Fold the rollups' appended deltas into them (analytics.daily_facts). Idempotent; returns the rows folded."""
    from analytics.daily_facts import daily_facts_compact

    return daily_facts_compact()
