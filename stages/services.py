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

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.actor import actor_split
from contacts.models import Contact
from stages.announce import transitions_announce
from stages.applying import rule_application_start
from stages.engine import EvaluationResult, lifecycle_evaluate
from stages.engine_base import DEFAULT_CHUNK_SIZE, evaluation_times
from stages.engine_rules import RuleSpec
from stages.history import contact_histories, late_facts, lifecycle_history_restate, stage_snapshots_restate
from stages.models import Stage, StageCategory, StageRule, StageSnapshot, StageTransition, TransitionSource
from stages.rules import validate_conditions

logger = logging.getLogger(__name__)

# Work registered by the apps above the engine, run by lifecycle_finish (see lifecycle_finish_step_register).
FINISH_STEPS: dict[str, Callable[..., Any]] = {}
SCHEDULED_ONLY: set[str] = set()  # finish steps run only by the nightly chain and recompute_lifecycle

MANUAL_MOVE_SOURCES = {
    TransitionSource.MANUAL,
    TransitionSource.API,
    TransitionSource.IMPORT,
    TransitionSource.PLAY,
    TransitionSource.SYSTEM,
}


def lifecycle_evaluate_realtime(*, contact_ids: Sequence[int], announce: bool = True) -> EvaluationResult:
    """Evaluate these contacts now, first restating their history where a late fact arrived (stages.history).

    The real-time path (a push, a form, an import chunk): a touchpoint that happened before
    moves already recorded rewrites the history after it quietly, then one evaluation as of
    now may announce what is new and current (stages.announce).
    """
    ids = sorted({int(i) for i in contact_ids})
    before = contact_histories(ids)
    late = late_facts(contact_ids=ids)
    if late:
        lifecycle_history_restate(since=late)
    result = lifecycle_evaluate(contact_ids=ids, announce=announce)
    # A stored daily snapshot that the new history contradicts is restated, visibly.
    changed = list(late.values())
    changed += StageTransition.objects.filter(pk__in=result.transition_ids).values_list("effective_at", flat=True)
    today = timezone.localdate()
    earliest = min((timezone.localtime(when).date() for when in changed), default=today)
    if earliest < today:
        stage_snapshots_restate(contact_ids=ids, since=earliest, before=before)
    return result


# --- manual moves ------------------------------------------------------------------------------


@transaction.atomic
def contact_move_stage(
    *, contact: Any, stage: Stage | str, reason: str, user: Any = None, source: str = TransitionSource.MANUAL
) -> StageTransition:
    """Move a contact to any stage by hand (admin, dashboard, API), logged with its reason.

    The contact's `stage_source` is the move's source (manual, api, play: they always agree),
    a placement by hand, so the rules never push it back; they may move it on only for
    events after this move. Leaving an exit
    stage for a customer stage by hand is recorded as a win-back.
    """

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
    # The contact row alone, no join: PostgreSQL re-checks a locked row that changed meanwhile
    # against the join, and a stage moved by a concurrent evaluation no longer matched the
    # joined stage row, so the contact vanished (DoesNotExist, a 500). Its stage is read after.
    locked = Contact.objects.select_for_update(of=("self",)).get(pk=contact.pk)
    if locked.stage_id == target.pk:
        raise ValidationError({"stage": f"The contact is already in {target.name!r}."})
    now = timezone.now()
    actor = actor_split(user)
    transition = StageTransition.objects.create(
        contact=locked,
        from_stage=locked.stage,
        to_stage=target,
        effective_at=now,
        recorded_at=now,
        source=source,
        user=actor.user,
        api_key=actor.api_key,
        actor_name=actor.name,
        note=reason,
        is_win_back=locked.stage.category == StageCategory.EXIT and target.category != StageCategory.EXIT,
    )
    Contact.objects.filter(pk=locked.pk).update(stage=target, stage_entered_at=now, stage_source=source, updated_at=now)
    contact.stage, contact.stage_id, contact.stage_entered_at = target, target.pk, now
    contact.stage_source = source
    _announce([transition.pk])  # in the transaction: receivers write outbox rows with the move
    return transition


def _announce(transition_ids: list[int]) -> None:
    transitions_announce(transition_ids)


# --- rules ---------------------------------------------------------------------------------------


@transaction.atomic
def stage_rule_save(
    *,
    rule: StageRule | None = None,
    data: dict[str, Any],
    user: Any = None,
    apply: bool = True,
) -> StageRule:
    """Create or update a stage rule after validating its conditions against the metric registry.

    `data` holds name, stage (Stage or id), match, conditions, from_stages (Stages or ids),
    priority, is_win_back, is_active, description. Raises ValidationError with the
    registry's messages; nothing is saved then. With `apply` (the default) the change is applied
    to every contact in the background after commit (stages.applying; issue 17: rule changes
    used to wait silently for the nightly run); `rule.last_application` names that run.
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
    if apply:
        rule.last_application = rule_application_start(rule=rule, user=user)
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


FUTURE_AS_OF_MESSAGE = (
    "{day} is in the future: a future as-of is a simulation and would write moves that have not happened"
    " (and email customers about them). Add --dry-run to see what it would do; nothing is written then."
)


def lifecycle_as_of_check(*, as_of: dt.date | None, dry_run: bool) -> None:
    """Refuse a future as-of unless it is a dry run (issue 17: `--as-of 2030-01-01` churned real customers)."""
    if as_of is not None and not dry_run and as_of > timezone.localdate():
        raise ValidationError({"as_of": FUTURE_AS_OF_MESSAGE.format(day=as_of.isoformat())})


def lifecycle_recompute(
    *,
    as_of: dt.date | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    contact_ids: Sequence[int] | None = None,
    dry_run: bool = False,
    rules: list[RuleSpec] | None = None,
    announce: bool | None = None,
    scheduled_steps: bool = False,
) -> RecomputeResult:
    """Recompute every contact's stage and base metrics, snapshot the day, then refresh customer value.

    The foreground twin of the nightly Celery fan-out (same engine, same chunks): used by
    `recompute_lifecycle` and `seed_demo`. With `contact_ids`, only those contacts are
    evaluated and the snapshot/customer-value steps are skipped (they describe everyone).
    A past `as_of` is a replay: it writes history effective up to that day and triggers
    nothing. A future one is refused unless `dry_run`, which writes nothing at all and
    returns who would move (`result.evaluation.movers`).
    `scheduled_steps` also runs the steps registered as scheduled-only (the result layer's
    stored results): `recompute_lifecycle` runs the whole nightly chain, seed_demo does not.
    """
    lifecycle_as_of_check(as_of=as_of, dry_run=dry_run)
    started = time.perf_counter()
    evaluation = lifecycle_evaluate(
        contact_ids=contact_ids,
        as_of=as_of,
        chunk_size=chunk_size or DEFAULT_CHUNK_SIZE,
        progress=progress,
        dry_run=dry_run,
        rules=rules,
        announce=(as_of is None if announce is None else announce) and not dry_run,
    )
    result = RecomputeResult(evaluation=evaluation, timings={"evaluate": time.perf_counter() - started})
    if contact_ids is None and not dry_run:
        lifecycle_finish(as_of=as_of, result=result, scheduled_steps=scheduled_steps)
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
    # A replay rebuilds history: even its last step (today) triggers nothing (issue 17).
    return lifecycle_recompute(as_of=end if end < timezone.localdate() else None, chunk_size=chunk_size, announce=False)


def lifecycle_finish_step_register(*, name: str, step: Callable[..., Any], scheduled_only: bool = False) -> None:
    """Register work to run after every full evaluation (nightly finish, `recompute_lifecycle`, seed).

    The engine knows nothing of the apps above it: analytics registers its customer-value
    recompute and its rollups' fold from its AppConfig.ready, so the engine never imports
    analytics. `step(as_of=date)` runs in registration order; its return value is kept in
    `RecomputeResult.steps[name]`. A `scheduled_only` step runs in the nightly chain and in
    `recompute_lifecycle`, not when a recompute is part of other work (seeding demo data).
    """
    FINISH_STEPS[name] = step
    if scheduled_only:
        SCHEDULED_ONLY.add(name)
    else:
        SCHEDULED_ONLY.discard(name)


def lifecycle_finish(
    *, as_of: dt.date | None, result: RecomputeResult, run_steps: bool = True, scheduled_steps: bool = True
) -> RecomputeResult:
    """After all chunks: the daily stage snapshot, then the registered finish steps (customer value, rollups,
    results), each with the same as-of day. `run_steps=False` leaves the steps to the caller (the nightly
    Celery chain runs each as its own task, `lifecycle_finish_step_run`)."""
    started = time.perf_counter()
    result.snapshot_date = as_of or timezone.localdate()
    result.snapshot_rows = stage_snapshot_write(date=result.snapshot_date)
    result.timings["snapshot"] = time.perf_counter() - started
    if run_steps:
        for name in FINISH_STEPS:
            if name in SCHEDULED_ONLY and not scheduled_steps:
                continue
            started = time.perf_counter()
            result.steps[name] = lifecycle_finish_step_run(name=name, as_of=result.snapshot_date)
            result.timings[name] = time.perf_counter() - started
    return result


def lifecycle_finish_step_run(*, name: str, as_of: dt.date) -> Any:
    """Run one registered finish step as of a day (a KeyError names a step no app registered)."""
    return FINISH_STEPS[name](as_of=as_of)


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
    return apps.get_model(app, model)._meta.db_table
