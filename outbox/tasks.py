"""Celery tasks of the outbox: the periodic relay and the prune (beat schedules both in settings)."""

from __future__ import annotations

from celery import shared_task

from outbox.services import outbox_kick_resume, outbox_prune, outbox_relay


@shared_task(acks_late=False, ignore_result=True, time_limit=120)
def outbox_relay_task(limit: int = 2000) -> dict[str, int]:
    """Beat, every few seconds: publish every due outbox event (after an outage, the whole backlog).

    Not acks_late: a relay lost with its worker is simply the next beat's work.
    """
    total = {"claimed": 0, "published": 0, "failed": 0}
    while True:
        result = outbox_relay(limit=min(limit, 500))
        for key in total:
            total[key] += getattr(result, key)
        if result.failed or result.claimed < min(limit, 500) or total["claimed"] >= limit:
            break
    if total["published"]:
        outbox_kick_resume()
    return total


@shared_task(acks_late=False, ignore_result=True, time_limit=600)
def outbox_prune_task() -> int:
    """Beat, hourly: delete published events past the retention."""
    return outbox_prune()
