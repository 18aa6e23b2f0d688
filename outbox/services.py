"""Writes of the outbox: enqueue an event with the data, relay pending events to Celery, prune old ones.

`outbox_enqueue` is the only way the apps above hand work to Celery from a write: the row
commits or rolls back with the data, so a broker outage can neither fail the write nor lose
the event. After commit, `outbox_kick` tries to publish the new rows at once (a short,
non-retrying attempt that pauses itself while the broker is down); the beat task
`outbox_relay_task` publishes whatever is still pending every few seconds. In the embedded
mode (no broker, tasks eager) the kick runs the tasks in-process right after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from lifecycle_crm.celery import app
from outbox.models import OutboxEvent

logger = logging.getLogger(__name__)

TASK_ID_PREFIX = "outbox-"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def outbox_task_id(event_id: int) -> str:
    """The Celery task id of an event's message: stable, so a consumer can tell a republished event."""
    return f"{TASK_ID_PREFIX}{event_id}"


def outbox_enqueue(
    *, task: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, delay_seconds: float = 0
) -> OutboxEvent:
    """Store a task to run (by Celery name, with JSON ids) in the caller's transaction; publish it after commit.

    Called where a write used to `.delay()` after commit: the event now commits with the
    data, so it is neither lost when the broker is down nor sent for a rolled-back write.
    """
    if not task or "." not in task:
        raise ValidationError({"task": f"{task!r} is not a Celery task name."})
    now = timezone.now()
    event = OutboxEvent.objects.create(
        task=task,
        payload={"args": list(args), "kwargs": dict(kwargs or {})},
        created_at=now,
        available_at=now + dt.timedelta(seconds=delay_seconds) if delay_seconds else now,
    )
    if not delay_seconds:
        event_id = event.pk
        transaction.on_commit(lambda: outbox_kick(event_ids=[event_id]))
    return event


# --- the relay ---------------------------------------------------------------------------------


@dataclass
class RelayResult:
    """What one relay pass did: rows claimed, published (or run, in the embedded mode), failed."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _eager() -> bool:
    return bool(app.conf.task_always_eager)


def _claim(*, event_ids: Sequence[int] | None, limit: int, lease_seconds: float) -> list[OutboxEvent]:
    """Claim up to `limit` due, unclaimed events for this relay; returns them.

    PostgreSQL: the candidates are locked with `FOR UPDATE SKIP LOCKED`, so concurrent relays
    pick disjoint rows without waiting. Everywhere, the claim itself is a conditional UPDATE
    (still unpublished, lease free or expired), so a row another relay took in between is
    not ours; only rows carrying our token are returned.
    """
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    token = uuid.uuid4().hex
    with transaction.atomic():
        candidates = OutboxEvent.objects.filter(free, published_at__isnull=True)
        if event_ids is not None:
            candidates = candidates.filter(pk__in=list(event_ids))
        else:
            candidates = candidates.filter(available_at__lte=now).order_by("available_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        OutboxEvent.objects.filter(free, pk__in=ids, published_at__isnull=True).update(
            claim_token=token, claimed_until=now + dt.timedelta(seconds=lease_seconds)
        )
    return list(OutboxEvent.objects.filter(pk__in=ids, claim_token=token, published_at__isnull=True).order_by("id"))


def _backoff_seconds(attempts: int) -> float:
    base = float(_setting("OUTBOX_RETRY_BASE_SECONDS", 1.0))
    cap = float(_setting("OUTBOX_RETRY_MAX_SECONDS", 10.0))
    return min(cap, base * (2 ** max(0, attempts - 1)))


def _mark_published(ids: list[int]) -> None:
    if ids:
        OutboxEvent.objects.filter(pk__in=ids).update(published_at=timezone.now(), claimed_until=None, last_error="")


def _mark_failed(event: OutboxEvent, error: str) -> None:
    attempts = event.attempts + 1
    OutboxEvent.objects.filter(pk=event.pk).update(
        attempts=attempts,
        last_error=error[:2000],
        available_at=timezone.now() + dt.timedelta(seconds=_backoff_seconds(attempts)),
        claimed_until=None,
    )


def _release(ids: list[int]) -> None:
    if ids:
        OutboxEvent.objects.filter(pk__in=ids).update(claimed_until=None)


def _run_eagerly(event: OutboxEvent) -> None:
    """The embedded mode: run the task in-process (EAGER_PROPAGATES raises its error here)."""
    task = app.tasks.get(event.task)
    if task is None:
        # Tasks are autodiscovered lazily (a worker imports them at start); a web process
        # running them in-process imports every app's tasks module once, here.
        app.loader.import_default_modules()
        task = app.tasks.get(event.task)
    if task is None:
        raise LookupError(f"No Celery task is registered as {event.task!r}")
    payload = event.payload or {}
    task.apply_async(
        args=payload.get("args") or [], kwargs=payload.get("kwargs") or {}, task_id=outbox_task_id(event.pk)
    )


def _publish(event: OutboxEvent, *, retry: bool) -> None:
    """Hand the event to the broker; results are ignored so publishing never touches the result backend."""
    payload = event.payload or {}
    options: dict[str, Any] = {"retry": retry}
    if retry:
        options["retry_policy"] = _setting(
            "OUTBOX_PUBLISH_RETRY_POLICY", {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
        )
    app.send_task(
        event.task,
        args=payload.get("args") or [],
        kwargs=payload.get("kwargs") or {},
        task_id=outbox_task_id(event.pk),
        ignore_result=True,
        **options,
    )


def outbox_relay(*, event_ids: Sequence[int] | None = None, limit: int = 500, retry: bool = True) -> RelayResult:
    """Publish pending events (these ones, or every due one up to `limit`) to Celery; returns what it did.

    Rows are claimed first, so two relays never publish the same row. A failed publish
    pushes the row's `available_at` back (exponential, capped at OUTBOX_RETRY_MAX_SECONDS so
    delivery resumes within seconds of the broker's return) and stops the pass: the broker
    is down for every row alike. In the embedded mode the tasks run in-process instead, and
    a task that raises is recorded on its row and retried later the same way.
    """
    lease = float(_setting("OUTBOX_CLAIM_LEASE_SECONDS", 60))
    result = RelayResult()
    events = _claim(event_ids=event_ids, limit=limit, lease_seconds=lease)
    result.claimed = len(events)
    if not events:
        return result
    eager = _eager()
    done: list[int] = []
    for index, event in enumerate(events):
        try:
            if eager:
                _run_eagerly(event)
            else:
                _publish(event, retry=retry)
        except Exception as exc:  # kombu raises transport-specific errors; eager tasks raise anything
            error = f"{type(exc).__name__}: {exc}"
            _mark_failed(event, error)
            result.failed += 1
            result.errors.append(error)
            if eager:
                logger.exception("Outbox event %s (%s) failed in-process; it will be retried", event.pk, event.task)
                _mark_published(done)
                done = []
                continue
            logger.warning("Outbox: could not publish %s (%s): %s", event.pk, event.task, error)
            _release([e.pk for e in events[index + 1 :]])
            break
        if eager:
            # Mark each as it runs: a task it ran may enqueue (and run) further events.
            _mark_published([event.pk])
            result.published += 1
        else:
            done.append(event.pk)
    _mark_published(done)
    result.published += len(done)
    return result


_kick_lock = threading.Lock()
_kick_paused_until = 0.0


def outbox_kick(*, event_ids: Sequence[int]) -> None:
    """After commit: publish these events now, best effort; never raises, never waits on a down broker.

    One non-retrying attempt (connect timeout from CELERY_BROKER_CONNECTION_TIMEOUT and the
    transport options). If it fails, kicks pause for OUTBOX_KICK_PAUSE_SECONDS in this
    process, so during an outage a write pays nothing: the events wait in the table and the
    beat relay publishes them once the broker is back.
    """
    global _kick_paused_until
    if not event_ids:
        return
    eager = _eager()
    if not eager and time.monotonic() < _kick_paused_until:
        return
    try:
        result = outbox_relay(event_ids=event_ids, retry=False)
    except Exception:  # the database itself failed after commit; the beat relay retries
        logger.exception("Outbox kick failed for %s", list(event_ids))
        return
    if result.failed and not eager:
        with _kick_lock:
            _kick_paused_until = time.monotonic() + float(_setting("OUTBOX_KICK_PAUSE_SECONDS", 5))


def outbox_kick_resume() -> None:
    """Forget a paused kick (tests, and the relay once it published again)."""
    global _kick_paused_until
    _kick_paused_until = 0.0


@transaction.atomic
def outbox_prune(*, older_than: dt.timedelta | None = None) -> int:
    """Delete published events older than the retention (OUTBOX_KEEP_PUBLISHED_HOURS); returns how many."""
    if older_than is None:
        older_than = dt.timedelta(hours=float(_setting("OUTBOX_KEEP_PUBLISHED_HOURS", 24)))
    cutoff = timezone.now() - older_than
    deleted, _ = OutboxEvent.objects.filter(published_at__isnull=False, published_at__lt=cutoff).delete()
    return deleted
