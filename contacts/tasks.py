"""Celery tasks of the contacts app: thin wrappers over contacts services."""

from celery import shared_task


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def import_run_task(job_id: int) -> str:
    """Run a queued CSV import (contacts.importing.import_run). Idempotent: a running or finished job is left alone."""
    from contacts.importing import import_run

    return import_run(job_id=job_id).status
