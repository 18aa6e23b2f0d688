"""Celery tasks of the analytics app: thin wrappers over analytics.services and analytics.results."""

import datetime as dt

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=3600)
def customer_value_recompute_task(previous: object = None, *, as_of_iso: str) -> dict:
    """Refit the CLV models and rewrite CLV/RFM metrics as of a date (ISO). Idempotent: a rerun rewrites the same.

    `previous` is the result of the chain's step before (ignored): the as-of date travels as an argument.
    """
    from analytics.services import customer_value_recompute

    return customer_value_recompute(as_of=dt.date.fromisoformat(as_of_iso)).as_dict()


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=3 * 3600)
def results_refresh_task(previous: object = None, *, as_of_iso: str) -> dict:
    """Store the preset results about the chain's as-of day (the nightly chain's last step). Idempotent: upserts."""
    from analytics.results import results_refresh

    return results_refresh(as_of=dt.date.fromisoformat(as_of_iso)).as_dict()


@shared_task(acks_late=True, time_limit=600, expires=300)
def daily_facts_compact_task() -> int:
    """Fold the rollups' appended deltas into them (analytics.daily_facts). Idempotent; returns the rows folded."""
    from analytics.daily_facts import daily_facts_compact

    return daily_facts_compact()
