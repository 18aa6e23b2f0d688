"""Celery tasks of plays: thin wrappers over plays.triggers and plays.services, all idempotent."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from celery import shared_task
from django.utils import timezone

from plays.execution import play_runs_execute
from plays.models import SCANNED_TRIGGERS, Play, PlayRun, PlayStatus
from plays.triggers import ScanResult, due_run_ids, play_scan, runs_create_for_touchpoints, runs_create_for_transitions

logger = logging.getLogger(__name__)

DISPATCH_CHUNK = 200
# Delays up to this are scheduled with an ETA, longer ones by the scan. A worker holds an ETA
# message unacknowledged until it is due, so this stays well below CELERY_VISIBILITY_TIMEOUT.
ETA_HORIZON = dt.timedelta(minutes=10)


def runs_dispatch(*, run_ids: Sequence[int]) -> int:
    """Hand runs to workers: due ones now in chunks, ones due within 10 minutes with an ETA, the rest to the scan.

    Runs in a worker (never in a request). A broker failure is logged, not raised: the runs
    are stored and the next scan dispatches whatever is due, so they need no outbox.
    """

    ids = list(run_ids)
    if not ids:
        return 0
    now = timezone.now()
    due: list[int] = []
    later: dict[dt.datetime, list[int]] = defaultdict(list)
    eta_horizon = now + ETA_HORIZON
    for pk, due_at in PlayRun.objects.filter(pk__in=ids).values_list("pk", "due_at"):
        if due_at <= now:
            due.append(pk)
        elif due_at <= eta_horizon:
            later[due_at].append(pk)
        # Longer delays wait in the table (due_at) for the periodic scan: a Redis broker redelivers
        # ETA messages held past its visibility timeout (CELERY_VISIBILITY_TIMEOUT), so longer ETAs would multiply.
    try:
        for start in range(0, len(due), DISPATCH_CHUNK):
            execute_runs_task.delay(due[start : start + DISPATCH_CHUNK])
        for due_at, batch in sorted(later.items()):
            for start in range(0, len(batch), DISPATCH_CHUNK):
                execute_runs_task.apply_async(args=[batch[start : start + DISPATCH_CHUNK]], eta=due_at)
    except Exception:  # kombu raises transport-specific errors when the broker is down
        logger.exception("Could not dispatch %d play run(s); the next scan will", len(ids))
    return len(ids)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=120)
def handle_transitions_task(transition_ids: list[int]) -> int:
    """Create the runs of stage-entry plays for these transitions and dispatch them."""

    return runs_dispatch(run_ids=runs_create_for_transitions(transition_ids=transition_ids))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=120)
def handle_tier_changes_task(change_ids: list[int]) -> int:
    """Create the runs of tier-entry plays for these loyalty tier changes and dispatch them."""
    from plays.triggers import runs_create_for_tier_changes

    return runs_dispatch(run_ids=runs_create_for_tier_changes(change_ids=change_ids))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=120)
def handle_redemptions_task(redemption_ids: list[int]) -> int:
    """Create the runs of reward-redeemed plays for these redemptions and dispatch them."""
    from plays.triggers import runs_create_for_redemptions

    return runs_dispatch(run_ids=runs_create_for_redemptions(redemption_ids=redemption_ids))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=120)
def handle_referrals_task(referral_ids: list[int]) -> int:
    """Create the runs of referral-converted plays for these referrals and dispatch them."""
    from plays.triggers import runs_create_for_referrals

    return runs_dispatch(run_ids=runs_create_for_referrals(referral_ids=referral_ids))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=120)
def handle_touchpoints_task(touchpoint_ids: list[int]) -> int:
    """Create the runs of touchpoint plays for these touchpoints and dispatch them."""

    return runs_dispatch(run_ids=runs_create_for_touchpoints(touchpoint_ids=touchpoint_ids))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, time_limit=600)
def execute_runs_task(run_ids: list[int]) -> int:
    """Execute these runs (claims them first, so duplicates and retries are harmless)."""

    return play_runs_execute(run_ids=run_ids).claimed


@shared_task(acks_late=True, time_limit=840)
def scan_plays_task() -> dict:
    """The periodic scan: time-based triggers of every active play, then dispatch of every due run."""

    started = time.monotonic()
    now = timezone.now()
    result = ScanResult()
    for play_id in Play.objects.filter(status=PlayStatus.ACTIVE, trigger_type__in=SCANNED_TRIGGERS).values_list(
        "pk", flat=True
    ):
        result.created[play_id] = play_scan(play_id=play_id, now=now)
    due = due_run_ids(now=now)
    try:
        for start in range(0, len(due), DISPATCH_CHUNK):
            execute_runs_task.delay(due[start : start + DISPATCH_CHUNK])
        result.dispatched = len(due)
    except Exception:
        logger.exception("Could not dispatch %d due play run(s)", len(due))
    result.seconds = round(time.monotonic() - started, 3)
    logger.info(
        "Play scan: %s new runs, %d dispatched in %.2fs", sum(result.created.values()), len(due), result.seconds
    )
    return {"created": result.created, "dispatched": result.dispatched, "seconds": result.seconds}
