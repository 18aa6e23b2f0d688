"""Celery tasks of the lifecycle engine: thin wrappers over stages.engine and stages.services.

All tasks take ids or ISO dates, are idempotent (a chunk recomputes from touchpoints and
writes with conditional UPDATEs) and run with acks_late (settings), so a worker killed
mid-chunk leaves the chunk untouched (its transaction rolls back) and the redelivered
task completes it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from celery import chain, chord, group, shared_task
from django.conf import settings
from django.utils import timezone

from outbox.services import outbox_enqueue
from stages.applying import rule_application_run
from stages.engine import EvaluationResult, lifecycle_evaluate
from stages.engine_base import DEFAULT_CHUNK_SIZE, chunk_ranges
from stages.services import (
    FINISH_STEPS,
    RecomputeResult,
    lifecycle_evaluate_realtime,
    lifecycle_finish,
    lifecycle_finish_step_run,
)

logger = logging.getLogger(__name__)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def chunk_size_setting() -> int:
    return int(getattr(settings, "CRM_LIFECYCLE_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=300)
def evaluate_contacts_task(contact_ids: list[int], announce: bool = True) -> int:
    """Re-evaluate the stages of these contacts now (real-time path; restates history for late facts). Idempotent.

    `announce=False` (an import, unless it opted in) keeps the moves from causing side effects.
    """
    return lifecycle_evaluate_realtime(contact_ids=contact_ids, announce=announce).moved


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=840)
def evaluate_range_task(lo: int, hi: int, as_of: str | None = None, reference: str | None = None) -> dict[str, Any]:
    """Evaluate one nightly chunk (contact ids lo..hi inclusive) in one transaction. Idempotent."""
    result = lifecycle_evaluate(id_range=(lo, hi), as_of=_date(as_of), reference=_datetime(reference))
    return {"contacts": result.contacts, "moved": result.moved, "chunks": result.chunks}


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=840)
def finish_recompute_task(
    chunk_results: list[dict[str, Any]], as_of: str | None = None, day: str | None = None
) -> dict[str, Any]:
    """After every chunk: write the day's stage snapshot; returns the as-of day the chain's next steps use.

    `day` is the run's day fixed when it was enqueued (a run that finishes after midnight still
    finishes the day it evaluated); an explicit `as_of` wins.
    """
    evaluation = EvaluationResult(
        contacts=sum(r.get("contacts", 0) for r in chunk_results),
        moved=sum(r.get("moved", 0) for r in chunk_results),
        chunks=sum(r.get("chunks", 0) for r in chunk_results),
    )
    result = lifecycle_finish(
        as_of=_date(as_of) or _date(day), result=RecomputeResult(evaluation=evaluation), run_steps=False
    )
    logger.info("Nightly lifecycle recompute: chunks done and snapshot written: %s", result.as_dict())
    return {"as_of": result.snapshot_date.isoformat(), "steps": {}}


# Not acks_late: a step (the customer-value refit, the result layer) may run longer than the broker's
# visibility timeout (CELERY_VISIBILITY_TIMEOUT), which would hand a running step out twice; a worker
# killed during one leaves yesterday's figures until the next night.
@shared_task(acks_late=False, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=3 * 3600)
def finish_step_task(previous: dict[str, Any], name: str) -> dict[str, Any]:
    """One registered finish step (customer value, the rollups' fold, the result layer) as of the chain's day.

    The as-of day arrives from the previous link and is handed on to the next, so the last step
    works on the same day as the first; the return value lists what each step returned.
    """
    as_of = previous["as_of"]
    output = lifecycle_finish_step_run(name=name, as_of=dt.date.fromisoformat(as_of))
    summary = output.as_dict() if hasattr(output, "as_dict") else output
    logger.info("Nightly lifecycle recompute: step %s as of %s done", name, as_of)
    return {"as_of": as_of, "steps": {**previous.get("steps", {}), name: summary}}


@shared_task(acks_late=True, time_limit=600)
def nightly_recompute_task(as_of: str | None = None, chunk_size: int | None = None) -> dict[str, Any]:
    """The nightly work as ONE Celery chain: evaluate chunks -> finish -> each registered step, one as-of day.

    The chunk tasks run in parallel on any number of workers (a chord); then the finish writes the
    stage snapshot, and the steps the upper apps registered (customer value, the rollups' fold, the
    result layer) run one after the other, each receiving the as-of day from the link before. Every
    chunk uses the same reference time, so a run that spans midnight still evaluates everyone as of
    the same moment and finishes that day.
    """
    ranges = chunk_ranges(chunk_size=chunk_size or chunk_size_setting())
    now = timezone.now()
    reference = None if as_of else now.isoformat()
    day = as_of or timezone.localdate(now).isoformat()
    finish = chain(
        finish_recompute_task.s(as_of=as_of, day=day), *(finish_step_task.s(name=name) for name in FINISH_STEPS)
    )
    if not ranges:
        finish.delay([])
    else:
        chord(group(evaluate_range_task.s(lo, hi, as_of, reference) for lo, hi in ranges))(finish)
    logger.info("Nightly lifecycle recompute: %d chunk(s) enqueued, steps %s", len(ranges), list(FINISH_STEPS))
    return {"chunks": len(ranges), "as_of": day, "reference": reference, "steps": list(FINISH_STEPS)}


# Not acks_late: applying a rule to every contact may run longer than the broker's visibility timeout;
# a message handed out again would find the application claimed anyway (rule_application_run).
@shared_task(acks_late=False, time_limit=3600)
def rule_application_task(application_id: int) -> dict[str, Any]:
    """Apply a saved rule change to every contact, with progress (stages.applying). Idempotent (claimed once)."""
    application = rule_application_run(application_id=application_id, chunk_size=chunk_size_setting())
    return {"status": application.status, "moved": application.moved}


def lifecycle_enqueue_evaluation(*, contact_ids: Sequence[int], announce: bool = True) -> None:
    """Ask a worker to re-evaluate these contacts' stages; call it inside the write's transaction.

    The request is an outbox row committed with the data, so a broker outage neither fails
    the write nor loses the evaluation: the relay publishes it once Redis is back.
    `announce=False` (imports) evaluates quietly: the moves cause no side effects.
    """
    if not contact_ids:
        return
    ids = sorted({int(i) for i in contact_ids})
    args: list = [ids] if announce else [ids, False]
    outbox_enqueue(task="stages.tasks.evaluate_contacts_task", args=args)
