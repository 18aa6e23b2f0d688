"""Celery tasks of the contacts app: thin wrappers over contacts services."""

from celery import shared_task
from django.db import transaction

from contacts import signals
from contacts.import_runs import import_run
from contacts.models import ImportJob, Touchpoint


@shared_task(acks_late=True, time_limit=840, soft_time_limit=800)
def import_run_task(job_id: int) -> str:
    """Run a queued CSV import (contacts.import_runs.import_run) and announce its end (the importer's bell).

    Idempotent: a running or finished job is kept.
    """
    job = import_run(job_id=job_id)
    with transaction.atomic():  # the receivers' tasks are outbox rows, written together
        signals.import_finished.send(sender=ImportJob, job_id=job.pk)
    return job.status


@shared_task(acks_late=True, time_limit=60)
def touchpoints_created_task(touchpoint_ids: list[int], contact_ids: list[int], announce: bool = True) -> None:
    """The one task a touchpoint write publishes: fans out to evaluation, plays and webhooks (idempotent consumers).

    `announce=False` (an import): the receivers evaluate quietly and tell no play and no webhook (issue 17).
    """
    # Each consumer keeps its own task (retries, time limits): stages enqueues the evaluation of the
    # touched contacts, plays and webhooks what they subscribed to. Their receivers write outbox rows
    # in this one transaction, so a retried fan-out never half-enqueues.
    with transaction.atomic():
        signals.touchpoints_created.send(
            sender=Touchpoint, touchpoint_ids=list(touchpoint_ids), contact_ids=list(contact_ids), announce=announce
        )
