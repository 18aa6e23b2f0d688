"""Celery tasks of the contacts app: thin wrappers over contacts services."""

from celery import shared_task

from contacts import signals
from contacts.import_runs import import_run
from contacts.models import Touchpoint


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def import_run_task(job_id: int) -> str:
    """Run a queued CSV import (contacts.import_runs.import_run). Idempotent: a running or finished job is kept."""
    return import_run(job_id=job_id).status


@shared_task(acks_late=True, time_limit=60)
def touchpoints_created_task(touchpoint_ids: list[int], contact_ids: list[int]) -> None:
    """The one task a touchpoint write publishes: fans out to evaluation, plays and webhooks (idempotent consumers)."""
    # Each consumer keeps its own task (retries, time limits): stages enqueues the evaluation of the
    # touched contacts, plays and webhooks what they subscribed to. Their receivers log a broker
    # failure instead of raising, so nothing here is retried twice.
    signals.touchpoints_created.send(
        sender=Touchpoint, touchpoint_ids=list(touchpoint_ids), contact_ids=list(contact_ids)
    )
