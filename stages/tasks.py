"""Celery tasks of the lifecycle engine: thin wrappers over stages.engine."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=300)
def evaluate_contacts_task(contact_ids: list[int]) -> int:
    """Re-evaluate the stages of these contacts now (real-time path). Idempotent."""
    from stages.engine import lifecycle_evaluate

    return lifecycle_evaluate(contact_ids=contact_ids).moved
