"""Celery tasks of the analytics app: thin wrappers over analytics.services and analytics.results."""

import datetime as dt

from celery import shared_task

from analytics.daily_facts import daily_facts_compact
from analytics.services import customer_value_recompute


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=840)
def customer_value_recompute_task(as_of_iso: str) -> dict:
    """Refit the CLV models and rewrite CLV/RFM metrics as of a date (ISO). Idempotent: a rerun rewrites the same.

    By hand; the nightly chain runs the same service as one of its registered finish steps.
    """

    return customer_value_recompute(as_of=dt.date.fromisoformat(as_of_iso)).as_dict()


@shared_task(acks_late=True, time_limit=600, expires=300)
def daily_facts_compact_task() -> int:
    """Fold the rollups' appended deltas into them (analytics.daily_facts). Idempotent; returns the rows folded."""

    return daily_facts_compact()
