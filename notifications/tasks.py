"""Celery tasks of notifications: thin wrappers over notifications.services (idempotent by notification key)."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=120)
def notify_transitions_task(transition_ids: list[int]) -> int:
    """Tell owners about their contacts' new stage moves."""
    from notifications.services import notifications_for_transitions

    return notifications_for_transitions(transition_ids=transition_ids)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=60)
def notify_import_task(job_id: int) -> int:
    """Tell the importer that their import finished."""
    from notifications.services import notifications_for_import

    return notifications_for_import(job_id=job_id)


@shared_task(acks_late=True, time_limit=600)
def notify_due_tasks_task() -> int:
    """Daily: tell reps about their tasks due today (and email those who opted in)."""
    from notifications.services import notifications_for_due_tasks

    return notifications_for_due_tasks()
