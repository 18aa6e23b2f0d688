"""Celery tasks of the contacts app: thin wrappers over contacts services."""

from celery import shared_task


@shared_task(acks_late=True, time_limit=840, soft_time_limit=800)
def import_run_task(job_id: int) -> str:
    """Run a queued CSV import (contacts.importing.import_run). Idempotent: a running or finished job is left alone."""
    from contacts.importing import import_run

    return import_run(job_id=job_id).status


@shared_task(acks_late=True, time_limit=60)
def touchpoints_created_task(touchpoint_ids: list[int], contact_ids: list[int]) -> None:
    """The one task a touchpoint write publishes: fans out to evaluation, plays and webhooks (idempotent consumers)."""
    from contacts.touchpoint_services import touchpoints_created_fan_out

    touchpoints_created_fan_out(touchpoint_ids=touchpoint_ids, contact_ids=contact_ids)
