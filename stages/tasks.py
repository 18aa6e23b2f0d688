"""Celery tasks of the lifecycle engine: thin wrappers over stages.engine and stages.services.

All tasks take ids or ISO dates, are idempotent (a chunk recomputes from touchpoints and
writes with conditional UPDATEs) and run with acks_late (settings), so a worker killed
mid-chunk leaves the chunk untouched (its transaction rolls back) and the redelivered
task completes it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import chord, group, shared_task
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def chunk_size_setting() -> int:
    from stages.engine_base import DEFAULT_CHUNK_SIZE

    return int(getattr(settings, "CRM_LIFECYCLE_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=300)
def evaluate_contacts_task(contact_ids: list[int]) -> int:
    """Re-evaluate the stages of these contacts now (real-time path). Idempotent."""
    from stages.engine import lifecycle_evaluate

    return lifecycle_evaluate(contact_ids=contact_ids).moved


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=840)
def evaluate_range_task(lo: int, hi: int, as_of: str | None = None, reference: str | None = None) -> dict[str, Any]:
    """Evaluate one nightly chunk (contact ids lo..hi inclusive) in one transaction. Idempotent."""
    from stages.engine import lifecycle_evaluate

    result = lifecycle_evaluate(id_range=(lo, hi), as_of=_date(as_of), reference=_datetime(reference))
    return {"contacts": result.contacts, "moved": result.moved, "chunks": result.chunks}


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3, time_limit=840)
def finish_recompute_task(chunk_results: list[dict[str, Any]], as_of: str | None = None) -> dict[str, Any]:
    """After every chunk: write the day's stage snapshot and refresh customer value (analytics)."""
    from stages.engine import EvaluationResult
    from stages.services import RecomputeResult, lifecycle_finish

    evaluation = EvaluationResult(
        contacts=sum(r.get("contacts", 0) for r in chunk_results),
        moved=sum(r.get("moved", 0) for r in chunk_results),
        chunks=sum(r.get("chunks", 0) for r in chunk_results),
    )
    result = lifecycle_finish(as_of=_date(as_of), result=RecomputeResult(evaluation=evaluation))
    logger.info("Nightly lifecycle recompute finished: %s", result.as_dict())
    return result.as_dict()


@shared_task(acks_late=True, time_limit=600)
def nightly_recompute_task(as_of: str | None = None, chunk_size: int | None = None) -> dict[str, Any]:
    """Fan the full recompute out over the workers in contact-id chunks, then finish (snapshot, CLV).

    A chord: the chunk tasks run in parallel on any number of workers; the finishing task
    runs once all of them are done. Every chunk uses the same reference time, so a run
    that spans midnight still evaluates everyone as of the same moment.
    """
    from stages.engine_base import chunk_ranges

    ranges = chunk_ranges(chunk_size=chunk_size or chunk_size_setting())
    reference = None if as_of else timezone.now().isoformat()
    finish = finish_recompute_task.s(as_of=as_of)
    if not ranges:
        finish.delay([])
    else:
        chord(group(evaluate_range_task.s(lo, hi, as_of, reference) for lo, hi in ranges))(finish)
    logger.info("Nightly lifecycle recompute: %d chunk(s) enqueued", len(ranges))
    return {"chunks": len(ranges), "as_of": as_of, "reference": reference}
