"""Celery tasks of the analytics app: thin wrappers over analytics.services."""

import datetime as dt

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=3600)
def customer_value_recompute_task(as_of_iso: str) -> dict:
    """Refit the CLV models and rewrite CLV/RFM metrics as of a date (ISO). Idempotent: a rerun rewrites the same."""
    from analytics.services import customer_value_recompute

    return customer_value_recompute(as_of=dt.date.fromisoformat(as_of_iso)).as_dict()
