"""Celery tasks of the loyalty app: thin wrappers over its services; ids in, idempotent by the ledger's constraints."""

from celery import shared_task

from loyalty.services import loyalty_nightly, loyalty_process_touchpoints, loyalty_process_transitions


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=300)
def loyalty_touchpoints_task(touchpoint_ids: list[int]) -> dict[str, int]:
    """Real-time earning, reversals, referral conversions and tiers for these new touchpoints."""
    return loyalty_process_touchpoints(touchpoint_ids=touchpoint_ids).entries


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=300)
def loyalty_transitions_task(transition_ids: list[int]) -> dict[str, int]:
    """Stage-entry bonuses for these new transitions."""
    return loyalty_process_transitions(transition_ids=transition_ids).entries


# Below the broker's visibility timeout (CRM_TASK_TIME_LIMIT_MAX): a first-night backfill measured 33.5 s.
@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=840)
def loyalty_nightly_task() -> dict:
    """Nightly expiry, catch-up earning, referral conversions and tiers (before the lifecycle recompute)."""
    return loyalty_nightly()
