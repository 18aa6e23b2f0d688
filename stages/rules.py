"""The fixed registry of metrics that stage rules may use, their validation and their compilation to SQL.

A rule's `conditions` is a list of `{"metric": name, "op": operator, "value": …, "params": {…}}`.
Every name, operator, parameter and value is checked against this registry; nothing the
user typed is ever evaluated or spliced into SQL: operators come from a whitelist mapped to
SQL tokens, and every value (numbers, kinds, cut-off times) is a bound parameter.

Compiling a condition yields three things for the engine's chunk query (stages.engine):
- extra aggregate columns over the touchpoints of the chunk (`t.*`), e.g. touches of some
  kinds since a cut-off and the time of the latest such touch;
- a boolean SQL expression over the aggregate row `a` (and the contact `c`, the metrics
  row `m`) that says whether the condition holds;
- a timestamp SQL expression for when the condition became true (the triggering event),
  used as the transition's `effective_at`; None means "the evaluation time".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError

from contacts.models import SCORE_MAX, SCORE_MIN, Touchpoint, TouchpointKind

NUMBER_OPS = {">=": ">=", ">": ">", "<=": "<=", "<": "<", "=": "=", "!=": "<>"}
ORDER_OPS = {">=": ">=", ">": ">", "<=": "<=", "<": "<"}
BOOL_OPS = {"=": "="}
MAX_DAYS = 3650
KIND_VALUES = set(TouchpointKind.values)


@dataclass(frozen=True)
class SqlPart:
    """A SQL fragment and its bound parameters, in order."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclass
class CompileContext:
    """What compiling needs: the evaluation time, the database vendor and a namer for aggregate columns."""

    reference: dt.datetime  # "now" of the evaluation (end of the --as-of day, or now)
    vendor: str  # "postgresql" | "sqlite"
    adapt: Callable[[dt.datetime], Any]  # connection.ops.adapt_datetimefield_value
    prefix: str = "r"
    aggregates: list[tuple[str, SqlPart]] = field(default_factory=list)
    # Columns only an event time reads (when a rising condition became true), never a test:
    # the engine computes them only for the contacts some rule may move.
    event_columns: set[str] = field(default_factory=set)
    needs_survey: bool = False
    needs_metrics_row: bool = False

    def ts(self, value: dt.datetime) -> Any:
        return self.adapt(value)

    def add_aggregate(self, part: SqlPart, *, event: bool = False) -> str:
        """Name an aggregate column; rules sharing a condition share the column (computed once).

        `event=True` marks a column read only by event-time expressions (see `event_columns`).
        """
        for name, existing in self.aggregates:
            if existing == part:
                if not event:
                    self.event_columns.discard(name)
                return name
        name = f"{self.prefix}_{len(self.aggregates)}"
        self.aggregates.append((name, part))
        if event:
            self.event_columns.add(name)
        return name

    def plus_days(self, column_sql: str, days: int) -> SqlPart:
        """`column + days` as a timestamp, per vendor."""
        if self.vendor == "postgresql":
            return SqlPart(f"({column_sql} + make_interval(days => %s))", (days,))
        return SqlPart(f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {column_sql}, %s)", (f"+{days} days",))


@dataclass(frozen=True)
class CompiledCondition:
    test: SqlPart  # boolean expression
    event: SqlPart | None  # timestamp of the triggering event, or None for "evaluation time"


@dataclass(frozen=True)
class Metric:
    """One entry of the registry: its value type, allowed operators and parameters, and its SQL."""

    name: str
    label: str
    help: str
    value_type: str  # "int" | "number" | "bool"
    ops: dict[str, str]
    params: dict[str, str]  # name -> "days" | "kinds" (all optional unless listed in `required`)
    compile: Callable[[dict[str, Any], str, Any, CompileContext], CompiledCondition]
    required: tuple[str, ...] = ()
    minimum: float | None = 0
    maximum: float | None = None

    def describe(self) -> str:
        params = ", ".join(f"{p}{'' if p in self.required else '?'}" for p in self.params) or "—"
        return f"{self.name} ({self.value_type}; ops {' '.join(self.ops)}; params {params}): {self.help}"


# --- SQL builders ----------------------------------------------------------------------------


def _since(ctx: CompileContext, days: int | None) -> SqlPart | None:
    if days is None:
        return None
    return SqlPart("t.occurred_at > %s", (ctx.ts(ctx.reference - dt.timedelta(days=days)),))


def _kinds_filter(kinds: list[str] | None) -> SqlPart | None:
    if not kinds:
        return None
    return SqlPart(f"t.kind IN ({', '.join(['%s'] * len(kinds))})", tuple(kinds))


def _where(*parts: SqlPart | None) -> SqlPart:
    present = [p for p in parts if p is not None]
    if not present:
        return SqlPart("1 = 1")
    return SqlPart(" AND ".join(p.sql for p in present), tuple(x for p in present for x in p.params))


def _count_and_latest(ctx: CompileContext, kinds: list[str] | None, days: int | None) -> tuple[str, str]:
    """Two aggregate columns: how many matching touchpoints, and when the latest one happened."""
    cond = _where(_kinds_filter(kinds), _since(ctx, days))
    count = ctx.add_aggregate(SqlPart(f"COUNT(*) FILTER (WHERE {cond.sql})", cond.params))
    latest = ctx.add_aggregate(SqlPart(f"MAX(t.occurred_at) FILTER (WHERE {cond.sql})", cond.params), event=True)
    return count, latest


def _counting(kinds_fixed: list[str] | None) -> Callable[..., CompiledCondition]:
    def build(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
        kinds = kinds_fixed or params.get("kinds") or None
        count, latest = _count_and_latest(ctx, kinds, params.get("days"))
        test = SqlPart(f"COALESCE(a.{count}, 0) {NUMBER_OPS[op]} %s", (value,))
        # Rising conditions (at least N) became true with the latest matching touchpoint.
        event = SqlPart(f"a.{latest}") if op in (">=", ">", "=") else None
        return CompiledCondition(test, event)

    return build


def _total_purchases(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    test = SqlPart(f"COALESCE(a.purchase_count, 0) {NUMBER_OPS[op]} %s", (value,))
    if op in (">=", ">", "="):
        first = (op == ">=" and value <= 1) or (op == ">" and value < 1)
        return CompiledCondition(test, SqlPart("a.first_purchase_at" if first else "a.last_purchase_at"))
    return CompiledCondition(test, None)


def _revenue(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    days = params.get("days")
    if days is None:
        expr = "COALESCE(a.purchase_amount, 0) - COALESCE(a.refund_amount, 0)"
        event = "a.last_purchase_at"
    else:
        since = _since(ctx, days)
        purchases = _where(SqlPart("t.kind = 'purchase'"), since)
        refunds = _where(SqlPart("t.kind = 'refund'"), since)
        net = ctx.add_aggregate(
            SqlPart(
                f"COALESCE(SUM(t.amount) FILTER (WHERE {purchases.sql}), 0)"
                f" - COALESCE(SUM(t.amount) FILTER (WHERE {refunds.sql}), 0)",
                purchases.params + refunds.params,
            )
        )
        latest = ctx.add_aggregate(
            SqlPart(f"MAX(t.occurred_at) FILTER (WHERE {purchases.sql})", purchases.params), event=True
        )
        expr, event = f"COALESCE(a.{net}, 0)", f"a.{latest}"
    test = SqlPart(f"{expr} {NUMBER_OPS[op]} %s", (value,))
    return CompiledCondition(test, SqlPart(event) if op in (">=", ">", "=") else None)


def _days_since(column: str) -> Callable[..., CompiledCondition]:
    """`days since <column> <op> N`, compiled to a comparison with a bound cut-off time.

    Never having had the event makes the condition false (NULL compares false), so a
    prospect without purchases is never "silent for 180 days since the last purchase".
    For "at least N days" the triggering moment is when the silence crossed N days.
    """

    def build(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
        cutoff = ctx.ts(ctx.reference - dt.timedelta(days=value))
        flipped = {">=": "<=", ">": "<", "<=": ">=", "<": ">"}[op]
        test = SqlPart(f"a.{column} {flipped} %s", (cutoff,))
        event = ctx.plus_days(f"a.{column}", int(value)) if op in (">=", ">") else SqlPart(f"a.{column}")
        return CompiledCondition(test, event)

    return build


def _last_survey_score(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    ctx.needs_survey = True
    # The score is not in the covering index: it is looked up here, inside the test, so only
    # contacts that pass the rule's other conditions (and answered a survey) pay the lookup.
    score = (
        f"CASE WHEN a.last_survey_at IS NOT NULL THEN (SELECT ts.score FROM {Touchpoint._meta.db_table} ts"
        " WHERE ts.contact_id = a.contact_id AND ts.occurred_at = a.last_survey_at"
        " AND ts.kind = 'survey_response' ORDER BY ts.id DESC LIMIT 1) END"
    )
    test = SqlPart(f"{score} {NUMBER_OPS[op]} %s", (value,))
    return CompiledCondition(test, SqlPart("a.last_survey_at"))


def _p_alive(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    ctx.needs_metrics_row = True
    # NULL until the customer-value model has run: the condition is then simply false.
    return CompiledCondition(SqlPart(f"m.p_alive {NUMBER_OPS[op]} %s", (float(value),)), None)


def _bought_since_stage_entered(params: dict[str, Any], op: str, value: Any, ctx: CompileContext) -> CompiledCondition:
    bought = "(a.last_purchase_at IS NOT NULL AND a.last_purchase_at > c.stage_entered_at)"
    test = SqlPart(bought if value else f"NOT {bought}")
    return CompiledCondition(test, SqlPart("a.last_purchase_at") if value else None)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            "touches",
            "Touches",
            "number of touchpoints of the given kinds (all kinds if none) in the last `days` days (all time if none)",
            "int",
            NUMBER_OPS,
            {"kinds": "kinds", "days": "days"},
            _counting(None),
        ),
        Metric(
            "purchases",
            "Purchases",
            "number of purchases in the last `days` days (all time if none)",
            "int",
            NUMBER_OPS,
            {"days": "days"},
            _counting([TouchpointKind.PURCHASE.value]),
        ),
        Metric(
            "total_purchases", "Total purchases", "number of purchases ever", "int", NUMBER_OPS, {}, _total_purchases
        ),
        Metric(
            "revenue",
            "Revenue",
            "purchases net of refunds, in the last `days` days (all time if none)",
            "number",
            NUMBER_OPS,
            {"days": "days"},
            _revenue,
            minimum=None,
        ),
        Metric(
            "days_since_last_purchase",
            "Days since last purchase",
            "whole days since the latest purchase (false for contacts who never bought)",
            "int",
            ORDER_OPS,
            {},
            _days_since("last_purchase_at"),
            maximum=MAX_DAYS,
        ),
        Metric(
            "days_since_last_touch",
            "Days since last touch",
            "whole days since the latest touchpoint of any kind (false for contacts without touchpoints)",
            "int",
            ORDER_OPS,
            {},
            _days_since("last_touch_at"),
            maximum=MAX_DAYS,
        ),
        Metric(
            "last_survey_score",
            "Last survey score",
            f"score ({SCORE_MIN}-{SCORE_MAX}) of the latest survey response (false if none)",
            "int",
            NUMBER_OPS,
            {},
            _last_survey_score,
            minimum=SCORE_MIN,
            maximum=SCORE_MAX,
        ),
        Metric(
            "referrals",
            "Referrals",
            "number of referrals in the last `days` days (all time if none)",
            "int",
            NUMBER_OPS,
            {"days": "days"},
            _counting([TouchpointKind.REFERRAL.value]),
        ),
        Metric(
            "reviews",
            "Reviews",
            "number of reviews in the last `days` days (all time if none)",
            "int",
            NUMBER_OPS,
            {"days": "days"},
            _counting([TouchpointKind.REVIEW.value]),
        ),
        Metric(
            "p_alive",
            "Probability alive",
            "BG/NBD probability (0-1) that the customer is still active (false until the CLV model has run)",
            "number",
            NUMBER_OPS,
            {},
            _p_alive,
            maximum=1,
        ),
        Metric(
            "bought_since_stage_entered",
            "Bought since entering the current stage",
            "true when the latest purchase is after the contact entered its current stage (win-backs)",
            "bool",
            BOOL_OPS,
            {},
            _bought_since_stage_entered,
            minimum=None,
        ),
    ]
}


def metric_register(metric: Metric) -> None:
    """Add a metric from an app above the engine (e.g. loyalty's tier and referrals), from its AppConfig.ready.

    Dependency inversion: the engine compiles whatever the registry holds and never imports
    the apps that extend it. A name is registered once; registering another metric under a
    taken name is a configuration error, not a silent override.
    """
    existing = METRICS.get(metric.name)
    if existing is not None and existing != metric:
        raise ImproperlyConfigured(f"Stage rule metric {metric.name!r} is already registered.")
    METRICS[metric.name] = metric


# --- validation -------------------------------------------------------------------------------


def _check_value(metric: Metric, value: Any, where: str) -> list[str]:
    errors = []
    if metric.value_type == "bool":
        if not isinstance(value, bool):
            errors.append(f"{where}: metric {metric.name!r} takes true or false, not {value!r}.")
        return errors
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a whole number" if metric.value_type == "int" else "a number"
        return [f"{where}: metric {metric.name!r} compares with {kind}, not {value!r}."]
    if metric.value_type == "int" and isinstance(value, float) and not value.is_integer():
        return [f"{where}: metric {metric.name!r} compares with a whole number, not {value!r}."]
    if value != value or value in (float("inf"), float("-inf")):
        return [f"{where}: the value must be a finite number."]
    if metric.minimum is not None and value < metric.minimum:
        errors.append(f"{where}: metric {metric.name!r} cannot be below {metric.minimum:g}.")
    if metric.maximum is not None and value > metric.maximum:
        errors.append(f"{where}: metric {metric.name!r} cannot be above {metric.maximum:g}.")
    return errors


def _check_params(metric: Metric, params: Any, where: str) -> list[str]:
    if params in (None, {}):
        params = {}
    if not isinstance(params, dict):
        return [f'{where}: params must be an object, e.g. {{"days": 30}}.']
    errors = []
    for name in sorted(set(params) - set(metric.params)):
        allowed = ", ".join(metric.params) or "none"
        errors.append(f"{where}: metric {metric.name!r} has no parameter {name!r} (allowed: {allowed}).")
    for name in metric.required:
        if name not in params:
            errors.append(f"{where}: metric {metric.name!r} needs the parameter {name!r}.")
    for name, value in params.items():
        kind = metric.params.get(name)
        if kind == "days":
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
                errors.append(f"{where}: {name!r} must be a whole number of days from 1 to {MAX_DAYS}, not {value!r}.")
        elif kind == "kinds":
            if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
                errors.append(f"{where}: 'kinds' must be a non-empty list of touchpoint kinds.")
                continue
            unknown = [k for k in value if k not in KIND_VALUES]
            if unknown:
                errors.append(f"{where}: unknown touchpoint kind(s) {', '.join(map(repr, unknown))}.")
    return errors


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """Check a rule's conditions against the registry; return them normalised or raise ValidationError.

    The messages name the condition (by position), the metric and what is wrong, so an admin
    can fix a rule without reading code.
    """
    if not isinstance(conditions, list) or not conditions:
        raise ValidationError({"conditions": "Give a non-empty list of conditions."})
    errors: list[str] = []
    normalised = []
    for index, condition in enumerate(conditions, start=1):
        where = f"Condition {index}"
        if not isinstance(condition, dict):
            errors.append(f"{where}: must be an object with metric, op and value.")
            continue
        unknown_keys = set(condition) - {"metric", "op", "value", "params"}
        if unknown_keys:
            errors.append(f"{where}: unknown key(s) {', '.join(sorted(unknown_keys))}.")
        name = condition.get("metric")
        metric = METRICS.get(name) if isinstance(name, str) else None
        if metric is None:
            errors.append(f"{where}: unknown metric {name!r}. Known metrics: {', '.join(METRICS)}.")
            continue
        op = condition.get("op")
        if not isinstance(op, str) or op not in metric.ops:  # a list or object here is not hashable
            errors.append(f"{where}: operator {op!r} is not allowed for {name!r} (use one of {' '.join(metric.ops)}).")
        if "value" not in condition:
            errors.append(f"{where}: a value is required.")
        else:
            errors.extend(_check_value(metric, condition["value"], where))
        errors.extend(_check_params(metric, condition.get("params"), where))
        params = (
            {k: v for k, v in (condition.get("params") or {}).items() if v is not None}
            if isinstance(condition.get("params"), dict)
            else {}
        )
        normalised.append({"metric": name, "op": op, "value": condition.get("value"), "params": params})
    if errors:
        raise ValidationError({"conditions": errors})
    return normalised


def compile_condition(condition: dict[str, Any], ctx: CompileContext) -> CompiledCondition:
    """Compile one validated condition into SQL (see the module docstring)."""
    metric = METRICS[condition["metric"]]
    value = condition["value"]
    if metric.value_type == "int" and isinstance(value, float):
        value = int(value)
    return metric.compile(condition.get("params") or {}, condition["op"], value, ctx)


def registry_help() -> list[str]:
    """One line per metric, for admin help texts and error pages."""
    return [metric.describe() for metric in METRICS.values()]
