"""Writes of the lifecycle engine: manual moves, rule saves, the full recompute and the daily snapshot.

The evaluation itself lives in stages.engine (one set-based path for one contact or all).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from outbox.services import outbox_enqueue
from stages.engine import EvaluationResult, lifecycle_evaluate
from stages.engine_base import DEFAULT_CHUNK_SIZE, evaluation_times
from stages.models import Stage, StageCategory, StageRule, StageSnapshot, StageTransition, TransitionSource
from stages.rules import validate_conditions

logger = logging.getLogger(__name__)

# Work registered by the apps above the engine, run by lifecycle_finish (see lifecycle_finish_step_register).
FINISH_STEPS: dict[str, Callable[..., Any]] = {}

MANUAL_MOVE_SOURCES = {
    TransitionSource.MANUAL,
    TransitionSource.API,
    TransitionSource.IMPORT,
    TransitionSource.PLAY,
    TransitionSource.SYSTEM,
}


def lifecycle_enqueue_evaluation(*, contact_ids: Sequence[int]) -> None:
    """Ask a worker to re-evaluate these contacts' stages; call it inside the write's transaction.

    The request is an outbox row committed with the data, so a broker outage neither fails
    the write nor loses the evaluation: the relay publishes it once Redis is back.
    """
    if not contact_ids:
        return
    outbox_enqueue(task="stages.tasks.evaluate_contacts_task", args=[sorted(set(contact_ids))])


# --- manual moves ------------------------------------------------------------------------------


@transaction.atomic
def contact_move_stage(
    *, contact: Any, stage: Stage | str, reason: str, user: Any = None, source: str = TransitionSource.MANUAL
) -> StageTransition:
    """Move a contact to any stage by hand (admin, dashboard, API), logged with its reason.

    The contact is marked as placed by hand (`stage_source = "manual"`), so the rules never
    push it back; they may move it on only for events after this move. Leaving an exit
    stage for a customer stage by hand is recorded as a win-back.
    """
    from contacts.models import Contact

    reason = (reason or "").strip() if isinstance(reason, str) or reason is None else ""
    if not reason:
        raise ValidationError({"reason": "Say why the contact is moved; the reason is kept in its history."})
    if len(reason) > 2000:
        raise ValidationError({"reason": "At most 2,000 characters."})
    if source not in MANUAL_MOVE_SOURCES:
        raise ValidationError({"source": f"{source!r} is not a source for a manual move."})
    if isinstance(stage, str):
        target = Stage.objects.filter(slug=stage).first()
        if target is None:
            raise ValidationError({"stage": f"Unknown stage {stage!r}."})
    else:
        target = stage
    if not target.is_active:
        raise ValidationError({"stage": f"The stage {target.name!r} is not active."})
    # Lock the row: a concurrent rule evaluation's conditional UPDATE then waits and skips it.
    locked = Contact.objects.select_for_update().select_related("stage").get(pk=contact.pk)
    if locked.stage_id == target.pk:
        raise ValidationError({"stage": f"The contact is already in {target.name!r}."})
    now = timezone.now()
    transition = StageTransition.objects.create(
        contact=locked,
        from_stage=locked.stage,
        to_stage=target,
        effective_at=now,
        recorded_at=now,
        source=source,
        user=user if getattr(user, "is_authenticated", False) else None,
        note=reason,
        is_win_back=locked.stage.category == StageCategory.EXIT and target.category != StageCategory.EXIT,
    )
    Contact.objects.filter(pk=locked.pk).update(
        stage=target, stage_entered_at=now, stage_source=TransitionSource.MANUAL, updated_at=now
    )
    contact.stage, contact.stage_id, contact.stage_entered_at = target, target.pk, now
    contact.stage_source = TransitionSource.MANUAL
    _announce([transition.pk])  # in the transaction: receivers write outbox rows with the move
    return transition


def _announce(transition_ids: list[int]) -> None:
    from stages.signals import stage_changed

    stage_changed.send(sender=StageTransition, transition_ids=transition_ids)


# --- rules ---------------------------------------------------------------------------------------


@transaction.atomic
def stage_rule_save(
    *,
    rule: StageRule | None = None,
    data: dict[str, Any],
) -> StageRule:
    """Create or update a stage rule after validating its conditions against the metric registry.

    `data` holds name, stage (Stage or id), match, conditions, from_stages (Stages or ids),
    priority, is_win_back, is_active, description. Raises ValidationError with the
    registry's messages; nothing is saved then.
    """
    rule = rule or StageRule()
    from_stages = data.pop("from_stages", None)
    for key, value in data.items():
        if key == "stage" and not isinstance(value, Stage):
            rule.stage_id = value
        elif key in {"name", "stage", "match", "conditions", "priority", "is_win_back", "is_active", "description"}:
            setattr(rule, key, value)
        else:
            raise ValidationError({key: "Unknown field."})
    rule.full_clean()
    rule.save()
    if from_stages is not None:
        rule.from_stages.set(from_stages)
    return rule


def stage_rule_conditions_clean(conditions: Any) -> list[dict[str, Any]]:
    """Validated, normalised conditions (see stages.rules.validate_conditions)."""
    return validate_conditions(conditions)


# --- the full run ------------------------------------------------------------------------------


@dataclass
class RecomputeResult:
    """The outcome of a full lifecycle recompute (foreground command, seed, or the nightly finish)."""

    evaluation: EvaluationResult
    snapshot_date: dt.date | None = None
    snapshot_rows: int = 0
    steps: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def moved(self) -> int:
        return self.evaluation.moved

    def as_dict(self) -> dict[str, Any]:
        return {
            "evaluation": self.evaluation.as_dict(),
            "snapshot_date": self.snapshot_date.isoformat() if self.snapshot_date else None,
            "snapshot_rows": self.snapshot_rows,
            "steps": sorted(self.steps),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def lifecycle_recompute(
    *,
    as_of: dt.date | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    contact_ids: Sequence[int] | None = None,
) -> RecomputeResult:
    """Recompute every contact's stage and base metrics, snapshot the day, then refresh customer value.

    The foreground twin of the nightly Celery fan-out (same engine, same chunks): used by
    `recompute_lifecycle` and `seed_demo`. With `contact_ids`, only those contacts are
    evaluated and the snapshot/customer-value steps are skipped (they describe everyone).
    """
    started = time.perf_counter()
    evaluation = lifecycle_evaluate(
        contact_ids=contact_ids, as_of=as_of, chunk_size=chunk_size or DEFAULT_CHUNK_SIZE, progress=progress
    )
    result = RecomputeResult(evaluation=evaluation, timings={"evaluate": time.perf_counter() - started})
    if contact_ids is None:
        lifecycle_finish(as_of=as_of, result=result)
    return result


def lifecycle_replay(
    *,
    start: dt.date,
    end: dt.date | None = None,
    step_days: int = 30,
    chunk_size: int | None = None,
    progress: Callable[[dt.date, EvaluationResult], None] | None = None,
) -> RecomputeResult:
    """Rebuild stage history by evaluating as of successive dates from `start` to `end`, then a full recompute.

    One evaluation sees only the present: a customer who lapsed for a year and bought again
    last month is simply "retention" today. Replaying as of every `step_days` (ignoring later
    touchpoints each time, like the nightly runs would have) records the at-risk, churned
    and win-back moves in between, with their real effective times. For imports of history
    and demo data; idempotent (forward-only rules never undo what an earlier step did).
    """
    if step_days < 1:
        raise ValidationError({"step_days": "Give a step of at least one day."})
    end = end or timezone.localdate()
    if start > end:
        raise ValidationError({"start": "The replay must start on or before its end."})
    day = start
    while day < end:
        evaluation = lifecycle_evaluate(as_of=day, chunk_size=chunk_size or DEFAULT_CHUNK_SIZE, write_metrics=False)
        if progress is not None:
            progress(day, evaluation)
        day += dt.timedelta(days=step_days)
    return lifecycle_recompute(as_of=end if end < timezone.localdate() else None, chunk_size=chunk_size)


def lifecycle_finish_step_register(*, name: str, step: Callable[..., Any]) -> None:
    """Register work to run after every full evaluation (nightly finish, `recompute_lifecycle`, seed).

    The engine knows nothing of the apps above it: analytics registers its customer-value
    recompute and its rollups' fold from its AppConfig.ready, so the engine never imports
    analytics. `step(as_of=date)` runs in registration order; its return value is kept in
    `RecomputeResult.steps[name]`.
    """
    FINISH_STEPS[name] = step


def lifecycle_finish(*, as_of: dt.date | None, result: RecomputeResult) -> RecomputeResult:
    """After all chunks: the daily stage snapshot, then the registered finish steps (customer value, rollups)."""
    started = time.perf_counter()
    result.snapshot_date = as_of or timezone.localdate()
    result.snapshot_rows = stage_snapshot_write(date=result.snapshot_date)
    result.timings["snapshot"] = time.perf_counter() - started
    for name, step in FINISH_STEPS.items():
        started = time.perf_counter()
        result.steps[name] = step(as_of=result.snapshot_date)
        result.timings[name] = time.perf_counter() - started
    return result


def stage_snapshot_write(*, date: dt.date) -> int:
    """Write StageSnapshot rows (contacts per stage) for `date`; idempotent per date.

    For today (the nightly run) the counts are the contacts' current stages; for a past
    date they are rebuilt from the transition history (each contact's latest transition
    effective by the end of that day), so `--as-of` snapshots are true to that day.
    One INSERT … SELECT … ON CONFLICT DO UPDATE; every stage gets a row, zero included.
    """

    snapshots = StageSnapshot._meta.db_table
    stages = Stage._meta.db_table
    contacts = _table("contacts", "Contact")
    transitions = StageTransition._meta.db_table
    if date >= timezone.localdate():
        counts = f"SELECT stage_id, COUNT(*) AS n FROM {contacts} GROUP BY stage_id"
        params: list[Any] = []
    else:
        _reference, end = evaluation_times(as_of=date)
        counts = (
            "SELECT to_stage_id AS stage_id, COUNT(*) AS n FROM (SELECT to_stage_id, ROW_NUMBER() OVER"
            " (PARTITION BY contact_id ORDER BY effective_at DESC, id DESC) AS rn"
            f" FROM {transitions} WHERE effective_at <= %s) latest WHERE rn = 1 GROUP BY to_stage_id"
        )
        params = [connection.ops.adapt_datetimefield_value(end)]
    sql = (
        f"INSERT INTO {snapshots} (date, stage_id, contacts) SELECT %s, s.id, COALESCE(n.n, 0)"
        f" FROM {stages} s LEFT JOIN ({counts}) n ON n.stage_id = s.id WHERE 1 = 1"
        " ON CONFLICT (date, stage_id) DO UPDATE SET contacts = excluded.contacts"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datefield_value(date), *params])
        return cursor.rowcount


def _table(app: str, model: str) -> str:
    from django.apps import apps

    return apps.get_model(app, model)._meta.db_table
