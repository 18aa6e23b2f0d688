"""The engine's rules: the active rules and stages, the movement policy, and their compilation to SQL.

Every rule becomes a SQL condition over the per-contact aggregate (stages.rules holds the metric
registry); the policy orders them so one pass picks each contact's target stage.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from metrics.models import ContactMetrics
from stages.engine_base import _greatest, _least, _Sql, _table
from stages.models import RuleMatch, Stage, StageCategory, StageRule
from stages.rules import CompileContext, SqlPart, compile_condition, validate_conditions

logger = logging.getLogger(__name__)

MANUAL_SOURCE = "manual"
HAND_SQL = "'manual', 'api', 'play'"  # stage sources of moves by hand (issue 17: stage_source = the move's source)

# --- inputs and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the engine needs it; built from StageRule rows or from an unsaved admin form (preview)."""

    id: int | None
    name: str
    stage_id: int
    match: str
    conditions: list[dict[str, Any]]
    from_stage_ids: frozenset[int]
    priority: int = 0
    is_win_back: bool = False

    @classmethod
    def from_rule(cls, rule: StageRule, from_stage_ids: Sequence[int] | None = None) -> RuleSpec:
        ids = from_stage_ids if from_stage_ids is not None else [s.pk for s in rule.from_stages.all()]
        return cls(
            id=rule.pk,
            name=rule.name,
            stage_id=rule.stage_id,
            match=rule.match,
            conditions=validate_conditions(rule.conditions),
            from_stage_ids=frozenset(ids),
            priority=rule.priority,
            is_win_back=rule.is_win_back,
        )


# --- rules and policy ----------------------------------------------------------------------------


def rules_active() -> list[RuleSpec]:
    """The active rules whose target stage is active, validated (an invalid stored rule is skipped, logged)."""
    specs = []
    rules = StageRule.objects.filter(is_active=True, stage__is_active=True).prefetch_related("from_stages")
    for rule in rules:
        try:
            specs.append(RuleSpec.from_rule(rule))
        except Exception as exc:  # ValidationError from a rule edited outside the validated paths
            logger.error("Skipping invalid stage rule %s (%s): %s", rule.pk, rule.name, exc)
    return specs


_CACHE: dict[str, Any] = {}


def _configuration_signature() -> tuple:
    """A cheap fingerprint of the rules and stages (one query); the cached set is reused while it holds.

    Rules bump `updated_at` on every save (admin, service); stage rows are few, so their
    engine-relevant columns are folded into sums. Real-time evaluations thus skip loading
    and validating the rule set on every call.
    """
    rule = StageRule._meta.db_table
    through = StageRule.from_stages.through._meta.db_table
    stage = Stage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {rule}), (SELECT MAX(updated_at) FROM {rule}),"
            f" (SELECT SUM(LENGTH(CAST(conditions AS TEXT)) + priority * 31 + stage_id * 131"
            f" + CASE WHEN is_active THEN 1 ELSE 0 END + CASE WHEN is_win_back THEN 2 ELSE 0 END) FROM {rule}),"
            f" (SELECT COUNT(*) FROM {through}), (SELECT SUM(stagerule_id * 7919 + stage_id) FROM {through}),"
            f" (SELECT COUNT(*) FROM {stage}), (SELECT SUM(id * 7919 + position) FROM {stage}),"
            f" (SELECT SUM(CASE WHEN is_active THEN id ELSE 0 END) FROM {stage}),"
            f" (SELECT SUM(id * LENGTH(category)) FROM {stage})"
        )
        return (connection.alias, connection.settings_dict["NAME"], *cursor.fetchone())


def _rules_and_stages() -> tuple[dict[int, Stage], list[RuleSpec]]:
    signature = _configuration_signature()
    if _CACHE.get("signature") != signature:
        _CACHE.update(
            signature=signature,
            stages={stage.pk: stage for stage in Stage.objects.all()},
            rules=rules_active(),
        )
    return _CACHE["stages"], _CACHE["rules"]


def rule_allowed_from(rule: RuleSpec, stages: dict[int, Stage]) -> list[int]:
    """The current stages from which the movement policy lets this rule move a contact."""
    target = stages.get(rule.stage_id)
    if target is None or not target.is_active:
        return []
    allowed = []
    for stage in stages.values():
        if stage.pk == target.pk or (rule.from_stage_ids and stage.pk not in rule.from_stage_ids):
            continue
        if rule.is_win_back:
            ok = stage.category == StageCategory.EXIT and target.category != StageCategory.EXIT
        elif target.category == StageCategory.EXIT:
            ok = stage.category == StageCategory.CUSTOMER or (
                stage.category == StageCategory.EXIT and target.position > stage.position
            )
        else:
            ok = stage.category != StageCategory.EXIT and target.position > stage.position
        if ok:
            allowed.append(stage.pk)
    return sorted(allowed)


def _policy_order(rules: list[RuleSpec], stages: dict[int, Stage]) -> list[RuleSpec]:
    # Win-backs first (they only apply to exit stages), then the furthest target, then priority.
    return sorted(
        (r for r in rules if r.stage_id in stages),
        key=lambda r: (not r.is_win_back, -stages[r.stage_id].position, -r.priority, r.id or 0),
    )


@dataclass
class _CompiledRules:
    aggregates: list[tuple[str, SqlPart]]
    needs_survey: bool
    needs_metrics_row: bool
    move_select: SqlPart  # SELECT … producing lc_move's columns, with {chunk} placeholder for c.id
    rules: list[RuleSpec]
    event_columns: frozenset[str] = frozenset()
    # SELECT of (contacts in the chunk, ids some rule's test holds for), {chunk} placeholder:
    # a superset of the movers that needs no event-time columns (see _evaluate_chunk).
    candidate_select: SqlPart = field(default_factory=lambda: SqlPart(""))


def _compile_rules(
    rules: list[RuleSpec], stages: dict[int, Stage], *, reference: dt.datetime, vendor: str
) -> _CompiledRules:
    ctx = CompileContext(reference=reference, vendor=vendor, adapt=connection.ops.adapt_datetimefield_value)
    ref = SqlPart("%s", (ctx.ts(reference),))
    ordered = [r for r in _policy_order(rules, stages) if rule_allowed_from(r, stages)]
    whens = _Sql()
    candidates: list[SqlPart] = []
    events = _Sql()
    to_stage, rule_ids, win_back = _Sql(), _Sql(), _Sql()
    for index, rule in enumerate(ordered, start=1):
        compiled = [compile_condition(c, ctx) for c in rule.conditions]
        tests = [c.test for c in compiled]
        joiner = " AND " if rule.match == RuleMatch.ALL else " OR "
        test = SqlPart("(" + joiner.join(f"({t.sql})" for t in tests) + ")", tuple(p for t in tests for p in t.params))
        if rule.match == RuleMatch.ALL:
            # The rule became true when its last condition did. A condition without an event time (a
            # model's p_alive, "fewer than") is known true only now: such a move is effective on the
            # evaluation day, not at the last purchase (issue 17: the at-risk play ignored those as old).
            known = [c.event for c in compiled if c.event is not None]
            if known and len(known) < len(compiled):
                known.append(ref)
            event = _greatest(vendor, known) if known else None
        else:
            # The earliest event among the conditions that hold; a condition without an event
            # time (e.g. "fewer than") counts as happening at the evaluation time.
            options = [
                SqlPart(
                    f"CASE WHEN {c.test.sql} THEN {(c.event or ref).sql} END", c.test.params + (c.event or ref).params
                )
                for c in compiled
            ]
            event = _least(vendor, options)
        event = SqlPart(f"COALESCE({event.sql}, {ref.sql})", event.params + ref.params) if event else ref
        allowed = rule_allowed_from(rule, stages)
        where = _Sql().add(f"c.stage_id IN ({', '.join(['%s'] * len(allowed))}) AND ", allowed).part(test)
        # A contact whose stage was entered after the evaluation's "now" (a past as-of over newer history)
        # is left alone: a move before its entry would break the chain, one after it would lie in the future.
        where.add(" AND c.stage_entered_at <= ").part(ref)
        candidates.append(SqlPart(f"({where.sql})", tuple(where.params)))
        # A manual placement is respected: only events after it may move the contact on.
        # A placement by hand (manual, api, play) is a later move, never the first placement (entered by
        # the time the contact row was created): the rules may move the contact on only after it.
        where.add(f" AND (c.stage_source NOT IN ({HAND_SQL}) OR c.stage_entered_at <= c.created_at OR ")
        where.part(event).add(" > c.stage_entered_at)")
        whens.add(f" WHEN {where.sql} THEN {index}", where.params)
        events.add(f", {event.sql} AS e_{index}", event.params)
        to_stage.add(f" WHEN {index} THEN %s", (rule.stage_id,))
        rule_ids.add(f" WHEN {index} THEN %s", (rule.id,))
        win_back.add(f" WHEN {index} THEN %s", (rule.is_win_back,))
    if not ordered:
        return _CompiledRules(ctx.aggregates, ctx.needs_survey, ctx.needs_metrics_row, SqlPart(""), ordered)
    any_test = SqlPart(" OR ".join(c.sql for c in candidates), tuple(p for c in candidates for p in c.params))

    effective = _Sql().add("CASE x.rule_idx")
    for index in range(1, len(ordered) + 1):
        effective.add(f" WHEN {index} THEN x.e_{index}")
    effective.add(" END")
    # The transition is effective when its event happened, but never before the contact
    # entered the stage it leaves (history stays ordered).
    # Nor after the evaluation's "now": a touch stamped ahead by a fast client clock moves the contact now,
    # never into the future (issue 17: a stage entered in the future hid later purchases from the win-back).
    capped = _least(vendor, [SqlPart(effective.sql, tuple(effective.params)), ref])
    eff = _greatest(vendor, [capped, SqlPart("x.from_entered_at")])
    metrics_join = ""
    if ctx.needs_metrics_row:
        metrics_join = f" LEFT JOIN {ContactMetrics._meta.db_table} m ON m.contact_id = c.id"
    source = f" FROM {_table('contacts', 'Contact')} c LEFT JOIN lc_agg a ON a.contact_id = c.id{metrics_join}"
    select = (
        _Sql()
        .add(
            "SELECT x.contact_id, x.from_stage_id, x.from_entered_at, x.rule_idx,"
            f" CASE x.rule_idx{to_stage.sql} END AS to_stage_id,",
            to_stage.params,
        )
        .add(f" CASE x.rule_idx{rule_ids.sql} END AS rule_id,", rule_ids.params)
        .add(f" CASE x.rule_idx{win_back.sql} END AS is_win_back,", win_back.params)
        .part(eff)
        .add(" AS effective_at FROM (SELECT c.id AS contact_id, c.stage_id AS from_stage_id,")
        .add(" c.stage_entered_at AS from_entered_at, CASE")
        .add(whens.sql, whens.params)
        .add(" END AS rule_idx")
        .add(events.sql, events.params)
        .add(source)
        .add(" WHERE {chunk}) x WHERE x.rule_idx IS NOT NULL")
    )
    join = source + " WHERE {chunk}"
    if vendor == "postgresql":
        # One scan gives both the chunk's size and its candidates.
        candidate = SqlPart(f"SELECT COUNT(*), ARRAY_AGG(c.id) FILTER (WHERE {any_test.sql}){join}", any_test.params)
    else:
        candidate = SqlPart(f"SELECT c.id{join} AND ({any_test.sql})", any_test.params)
    return _CompiledRules(
        ctx.aggregates,
        ctx.needs_survey,
        ctx.needs_metrics_row,
        SqlPart(select.sql, tuple(select.params)),
        ordered,
        event_columns=frozenset(ctx.event_columns),
        candidate_select=candidate,
    )
