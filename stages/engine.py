"""The lifecycle engine: one set-based evaluation path for one contact, a list of contacts or all of them.

Per chunk of contact ids, in one transaction:
1. `lc_agg` (temporary table): one GROUP BY over the chunk's touchpoints up to the cut-off,
   producing the base metrics and the counts the active rules test — without the
   event-time columns (when a rising condition became true), which cost about a third of
   the aggregate. It is a separate statement so PostgreSQL may plan it in parallel (an
   UPDATE never is) and so the statements below read it without aggregating twice.
2. The base columns of analytics.ContactMetrics are written from it (an UPDATE joined to
   lc_agg for changed rows, an INSERT of missing rows) — never `bulk_update` (PERFORMANCE.md).
2b. One scan of the chunk's contacts gives its size and the candidates: contacts for which
   some rule's test holds (a superset of the movers). Only they are aggregated again, with
   the event columns, into a fresh lc_agg (the whole chunk when most of it may move).
3. `lc_move` (temporary table): every rule compiled to a SQL boolean over the aggregate
   row; a CASE picks, per contact, the first allowed rule in policy order, so the target
   stage, the rule, the win-back mark and the effective time come out of one SELECT.
4. The contact rows are moved with a conditional UPDATE (only if the contact is still in
   the stage, entered at the time, that the evaluation saw) and a transition row is
   inserted for exactly the rows updated. Two workers evaluating the same contact can
   therefore never both write a transition; the loser re-evaluates those contacts once
   the winner has committed, so no touchpoint's effect is lost.
5. The purchase months of analytics.ContactPurchaseMonth (the cohort-retention rollup) are
   rewritten for the contacts whose metrics row was written in step 2 (every contact of a
   real-time chunk): one statement on PostgreSQL that changes only the rows that differ.

For a few ids on PostgreSQL (the real-time task) steps 1-4 are one statement of CTEs
(`lc_agg` becomes a CTE, the metrics upsert a data-modifying CTE), one round trip per pass.
After a move the moved contacts are evaluated again in the same transaction (at most
MAX_PASSES), so one run converges (purchase, then at_risk, then churned, each with its own
effective time) instead of needing several nights.

Effective time: the latest touchpoint among the ones a rising condition counts (for "at
least N purchases" that is the latest purchase, exact in real time; a backfill of old
history gets the latest rather than the N-th purchase — `stages.services.lifecycle_replay`
rebuilds it step by step), "last + N days" for silence, the evaluation time for metrics
without an event (p_alive, "fewer than").

Raw SQL is used because the ORM cannot express the temporary tables, the data-modifying
CTE, `ON CONFLICT … WHERE … IS DISTINCT FROM` or a CASE over compiled rule conditions;
every user-supplied value is a bound parameter (see stages.rules). It runs on
PostgreSQL and SQLite (≥ 3.35: RETURNING, UPDATE … FROM); vendor branches are marked.

Movement policy (issue 3): rules move contacts forward along the path (higher position);
exit stages are entered by their rules from customer stages (or from a lower exit
stage); a contact in an exit stage leaves it only by a win-back rule (marked
is_win_back); a contact placed by hand (`stage_source` manual, api or play, after its
creation) is moved by a rule only on events after that placement. Skipping stages is one transition.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from stages.announce import transitions_announce
from stages.models import RuleMatch, Stage, StageCategory, StageRule, StageTransition, TransitionSource
from stages.rules import CompileContext, SqlPart, compile_condition, validate_conditions

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 50000  # one process: big enough for a parallel aggregate (1M steady: 15.5 s vs 23 s at 20k)
MAX_CONFLICT_RETRIES = 3
SINGLE_STATEMENT_MAX = 200  # ids evaluated in one statement on PostgreSQL (real time)
CANDIDATE_IDS_MAX = 5000  # more candidates than this re-aggregate their whole chunk (a first placement)
MAX_PASSES = 4  # prospect -> customer -> exit is the longest chain of moves one evaluation can need
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


@dataclass
class EvaluationResult:
    """What one evaluation did (or, with dry_run, would do)."""

    contacts: int = 0
    moved: int = 0
    chunks: int = 0
    conflicts_retried: int = 0
    transition_ids: list[int] = field(default_factory=list)
    moves: Counter = field(default_factory=Counter)  # (from slug, to slug) -> count
    moves_by_rule: Counter = field(default_factory=Counter)  # rule name -> count
    seconds: float = 0.0
    dry_run: bool = False
    # (contact id, from slug, to slug, rule name) of every move a dry run would make: who, not only how many.
    movers: list[tuple[int, str, str, str]] = field(default_factory=list)

    def merge(self, other: EvaluationResult) -> None:
        self.contacts += other.contacts
        self.moved += other.moved
        self.chunks += other.chunks
        self.conflicts_retried += other.conflicts_retried
        self.transition_ids.extend(other.transition_ids)
        self.moves.update(other.moves)
        self.moves_by_rule.update(other.moves_by_rule)
        self.movers.extend(other.movers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "moved": self.moved,
            "chunks": self.chunks,
            "conflicts_retried": self.conflicts_retried,
            "moves": [{"from": f, "to": t, "contacts": n} for (f, t), n in sorted(self.moves.items())],
            "moves_by_rule": dict(self.moves_by_rule),
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
        }


# --- time ----------------------------------------------------------------------------------------


def evaluation_times(*, as_of: dt.date | None, reference: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """(reference, cutoff): "now" for day-based metrics, and the latest touchpoint time that counts.

    With `as_of` the evaluation happens at the end of that day and later touchpoints are
    ignored. Without it, "now", and every stored touchpoint counts (the contact services
    accept occurred_at up to a day ahead, e.g. a client clock running fast; such a touch
    must not wait for the nightly run).
    """
    if as_of is not None:
        end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min)
        end = timezone.make_aware(end, timezone.get_default_timezone())
        end -= dt.timedelta(microseconds=1)
        return end, end
    now = reference or timezone.now()
    return now, now + dt.timedelta(days=1)


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


# --- SQL building ----------------------------------------------------------------------------------


class _Sql:
    """Collects SQL text and parameters in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, params: Sequence[Any] = ()) -> _Sql:
        self.parts.append(sql)
        self.params.extend(params)
        return self

    def part(self, part: SqlPart) -> _Sql:
        return self.add(part.sql, part.params)

    @property
    def sql(self) -> str:
        return "".join(self.parts)


def _greatest(vendor: str, items: list[SqlPart]) -> SqlPart:
    """GREATEST ignoring NULLs (PostgreSQL's semantics) on both vendors."""
    if len(items) == 1:
        return items[0]
    params = tuple(p for item in items for p in item.params)
    if vendor == "postgresql":
        return SqlPart(f"GREATEST({', '.join(i.sql for i in items)})", params)
    # SQLite's multi-argument MAX returns NULL if any argument is NULL.
    inner = ", ".join(f"COALESCE({i.sql}, '0000-01-01')" for i in items)
    return SqlPart(f"NULLIF(MAX({inner}), '0000-01-01')", params)


def _least(vendor: str, items: list[SqlPart]) -> SqlPart:
    if len(items) == 1:
        return items[0]
    params = tuple(p for item in items for p in item.params)
    if vendor == "postgresql":
        return SqlPart(f"LEAST({', '.join(i.sql for i in items)})", params)
    inner = ", ".join(f"COALESCE({i.sql}, '9999-12-31')" for i in items)
    return SqlPart(f"NULLIF(MIN({inner}), '9999-12-31')", params)


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
        from analytics.models import ContactMetrics

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


def _table(app: str, model: str) -> str:
    from django.apps import apps

    return apps.get_model(app, model)._meta.db_table


# --- chunks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Either an inclusive id range (the full run) or an explicit id list (real time, --contact)."""

    lo: int | None = None
    hi: int | None = None
    ids: tuple[int, ...] = ()

    def predicate(self, column: str) -> SqlPart:
        if self.ids:
            return SqlPart(f"{column} IN ({', '.join(['%s'] * len(self.ids))})", self.ids)
        return SqlPart(f"{column} BETWEEN %s AND %s", (self.lo, self.hi))

    def size_hint(self) -> int:
        return len(self.ids) if self.ids else (self.hi or 0) - (self.lo or 0) + 1


def chunk_ranges(*, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[tuple[int, int]]:
    """Contact-id ranges of about `chunk_size` contacts each, from one window query (ids may be sparse)."""
    table = _table("contacts", "Contact")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS bucket"
            f" FROM {table}) b GROUP BY bucket ORDER BY 1",
            [chunk_size],
        )
        return [(int(lo), int(hi)) for lo, hi in cursor.fetchall()]


def _chunks(contact_ids: Sequence[int] | None, chunk_size: int) -> Iterator[Chunk]:
    if contact_ids is None:
        for lo, hi in chunk_ranges(chunk_size=chunk_size):
            yield Chunk(lo=lo, hi=hi)
        return
    ids = sorted({int(i) for i in contact_ids})
    for start in range(0, len(ids), chunk_size):
        yield Chunk(ids=tuple(ids[start : start + chunk_size]))


# --- one chunk ----------------------------------------------------------------------------------


def _aggregate_sql(chunk: Chunk, compiled: _CompiledRules, cutoff: Any, *, events: bool = True) -> _Sql:
    """The per-contact GROUP BY over the chunk's touchpoints up to the cut-off (the rows of lc_agg).

    `events=False` leaves out the event-time columns (they cost about a third of the
    aggregate and only the contacts that move need them).
    """
    touchpoints = _table("contacts", "Touchpoint")
    sql = _Sql().add(
        "SELECT t.contact_id,"
        " COUNT(*) AS touch_count,"
        " COUNT(*) FILTER (WHERE t.kind = 'purchase') AS purchase_count,"
        " COALESCE(SUM(t.amount) FILTER (WHERE t.kind = 'purchase'), 0) AS purchase_amount,"
        " COALESCE(SUM(t.amount) FILTER (WHERE t.kind = 'refund'), 0) AS refund_amount,"
        " MIN(t.occurred_at) FILTER (WHERE t.kind = 'purchase') AS first_purchase_at,"
        " MAX(t.occurred_at) FILTER (WHERE t.kind = 'purchase') AS last_purchase_at,"
        " MAX(t.occurred_at) AS last_touch_at"
    )
    if compiled.needs_survey:
        sql.add(", MAX(t.occurred_at) FILTER (WHERE t.kind = 'survey_response') AS last_survey_at")
    for name, part in compiled.aggregates:
        if events or name not in compiled.event_columns:
            sql.add(f", {part.sql} AS {name}", part.params)
    # Only columns of the covering index (contact_id, occurred_at) INCLUDE (kind, amount)
    # are read, so PostgreSQL can answer this with an index-only scan.
    sql.add(f" FROM {touchpoints} t WHERE t.occurred_at <= %s AND ", [cutoff]).part(chunk.predicate("t.contact_id"))
    sql.add(" GROUP BY t.contact_id")
    return sql


def _aggregate(cursor: Any, chunk: Chunk, compiled: _CompiledRules, cutoff: Any, *, events: bool = True) -> None:
    sql = _aggregate_sql(chunk, compiled, cutoff, events=events)
    cursor.execute(f"CREATE TEMPORARY TABLE lc_agg AS {sql.sql}", sql.params)


_METRIC_COLUMNS = ("purchase_count", "revenue", "refunds", "first_purchase_at", "last_purchase_at", "last_touch_at")


def _write_metrics(cursor: Any, chunk: Chunk, now: Any) -> list[int]:
    """Write the base columns of analytics.ContactMetrics for the chunk from lc_agg, changed rows only.

    Three set-based statements instead of one INSERT … ON CONFLICT: an UPDATE joined to
    lc_agg for contacts with touchpoints (a hash join; 0.2 s per 100,000 contacts against
    0.5 s for the upsert, which probes the unique index row by row), a reset for contacts
    whose touchpoints are all gone, and an INSERT for contacts that have no metrics row yet.
    Returns the ids of the contacts whose row was written: their purchases may have changed.
    """
    from analytics.models import ContactMetrics

    table = ContactMetrics._meta.db_table
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    margin = str(settings.CRM_MARGIN)
    values = {
        "purchase_count": "a.purchase_count",
        "revenue": "ROUND(a.purchase_amount - a.refund_amount, 2)",
        "refunds": "ROUND(a.refund_amount, 2)",
        "first_purchase_at": "a.first_purchase_at",
        "last_purchase_at": "a.last_purchase_at",
        "last_touch_at": "a.last_touch_at",
        "touch_count": "a.touch_count",
        "historic_clv": "ROUND((a.purchase_amount - a.refund_amount) * CAST(%s AS NUMERIC), 2)",
    }
    # Each value appears twice (SET and the change test); only historic_clv's has a parameter.
    set_params = [margin]
    target = chunk.predicate(f"{table}.contact_id")
    cursor.execute(
        f"UPDATE {table} SET "
        + ", ".join(f"{col} = {expr}" for col, expr in values.items())
        + f", computed_at = %s FROM lc_agg a WHERE {table}.contact_id = a.contact_id AND {target.sql} AND ("
        + " OR ".join(f"{table}.{col} {distinct} {expr}" for col, expr in values.items())
        + f") RETURNING {table}.contact_id",
        [*set_params, now, *target.params, *set_params],
    )
    written = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        f"UPDATE {table} SET purchase_count = 0, revenue = 0, refunds = 0, first_purchase_at = NULL,"
        " last_purchase_at = NULL, last_touch_at = NULL, touch_count = 0, historic_clv = 0, computed_at = %s"
        f" WHERE {target.sql} AND {table}.touch_count <> 0"
        f" AND NOT EXISTS (SELECT 1 FROM lc_agg a WHERE a.contact_id = {table}.contact_id)"
        f" RETURNING {table}.contact_id",
        [now, *target.params],
    )
    written += [row[0] for row in cursor.fetchall()]
    # The range bound inside NOT EXISTS keeps PostgreSQL on the primary key instead of a scan
    # of the whole metrics table.
    inner = chunk.predicate("m.contact_id")
    missing = _metrics_insert_head(now).part(chunk.predicate("c.id"))
    missing.add(f" AND NOT EXISTS (SELECT 1 FROM {table} m WHERE m.contact_id = c.id AND ")
    missing.part(inner).add(") ON CONFLICT (contact_id) DO NOTHING RETURNING contact_id")
    cursor.execute(missing.sql, missing.params)
    written += [row[0] for row in cursor.fetchall()]
    return written


def _write_purchase_months(cursor: Any, chunk: Chunk, cutoff: Any) -> None:
    """Rewrite the chunk's rows of analytics.ContactPurchaseMonth (the cohort-retention rollup).

    The wanted rows are the chunk's purchases up to the cut-off grouped by (contact, local
    month), each with the contact's first month as its cohort. On PostgreSQL one statement
    compares them with the stored rows and deletes the months that no longer have a purchase,
    updates the rows whose figures changed and inserts the new months (the three parts touch
    disjoint rows, so one snapshot serves them all), so a steady nightly run rewrites nothing.
    SQLite (development and tests) has no data-modifying CTEs: it deletes the chunk's rows
    and inserts the wanted ones, two statements.
    """
    from analytics.models import ContactPurchaseMonth
    from analytics.reports.base import month_index_sql

    table = ContactPurchaseMonth._meta.db_table
    month, month_params = month_index_sql("t.occurred_at")
    want = _Sql().add(
        "SELECT contact_id, month, MIN(month) OVER (PARTITION BY contact_id) AS cohort, purchases, revenue FROM ("
        f" SELECT t.contact_id, {month} AS month, COUNT(*) AS purchases, COALESCE(SUM(t.amount), 0) AS revenue"
        f" FROM {_table('contacts', 'Touchpoint')} t WHERE t.kind = 'purchase' AND t.occurred_at <= %s AND ",
        [*month_params, cutoff],
    )
    want.part(chunk.predicate("t.contact_id")).add(f" GROUP BY t.contact_id, {month}) x", month_params)
    insert = f"INSERT INTO {table} (contact_id, month, cohort, purchases, revenue)"
    stored = chunk.predicate(f"{table}.contact_id")
    if connection.vendor != "postgresql":
        cursor.execute(f"DELETE FROM {table} WHERE {stored.sql}", stored.params)
        cursor.execute(f"{insert} {want.sql}", want.params)
        return
    sql = _Sql().add(f"WITH w AS MATERIALIZED ({want.sql}),", want.params)
    sql.add(f" gone AS (DELETE FROM {table} WHERE ").part(stored)
    sql.add(
        f" AND NOT EXISTS (SELECT 1 FROM w WHERE w.contact_id = {table}.contact_id AND w.month = {table}.month)),"
        f" changed AS (UPDATE {table} SET cohort = w.cohort, purchases = w.purchases, revenue = w.revenue FROM w"
        f" WHERE w.contact_id = {table}.contact_id AND w.month = {table}.month"
        f" AND ({table}.cohort, {table}.purchases, {table}.revenue)"
        " IS DISTINCT FROM (w.cohort, w.purchases, w.revenue))"
        f" {insert} SELECT w.contact_id, w.month, w.cohort, w.purchases, w.revenue FROM w"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} r WHERE r.contact_id = w.contact_id AND r.month = w.month)"
        # Concurrent evaluations of a contact are already ordered by its metrics row (written, and
        # so locked, first in the same transaction); the upsert is a second guard on the unique key.
        " ON CONFLICT (contact_id, month) DO UPDATE SET cohort = excluded.cohort,"
        " purchases = excluded.purchases, revenue = excluded.revenue"
    )
    cursor.execute(sql.sql, sql.params)


def purchase_months_backfill(*, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
    """Write every contact's purchase months (a new installation's rollup, or after a time-zone change)."""
    cutoff = connection.ops.adapt_datetimefield_value(evaluation_times(as_of=None)[1])  # what an evaluation counts
    for lo, hi in chunk_ranges(chunk_size=chunk_size):
        with transaction.atomic(), connection.cursor() as cursor:
            _write_purchase_months(cursor, Chunk(lo=lo, hi=hi), cutoff)


def _metrics_insert_head(now: Any) -> _Sql:
    """`INSERT INTO metrics … SELECT <base columns from lc_agg> FROM contacts c LEFT JOIN lc_agg a … WHERE ` (a chunk
    predicate on c.id follows). Historic CLV is revenue net of refunds times the margin: written with the
    revenue, so it is as fresh (the nightly customer-value run writes the same value)."""
    from analytics.models import ContactMetrics

    return _Sql().add(
        f"INSERT INTO {ContactMetrics._meta.db_table} (contact_id, purchase_count, revenue, refunds,"
        " first_purchase_at, last_purchase_at, last_touch_at, touch_count, rfm_segment, historic_clv, computed_at)"
        " SELECT c.id, COALESCE(a.purchase_count, 0),"
        " ROUND(COALESCE(a.purchase_amount, 0) - COALESCE(a.refund_amount, 0), 2),"
        " ROUND(COALESCE(a.refund_amount, 0), 2), a.first_purchase_at, a.last_purchase_at, a.last_touch_at,"
        " COALESCE(a.touch_count, 0), '',"
        " ROUND((COALESCE(a.purchase_amount, 0) - COALESCE(a.refund_amount, 0)) * CAST(%s AS NUMERIC), 2), %s"
        f" FROM {_table('contacts', 'Contact')} c LEFT JOIN lc_agg a ON a.contact_id = c.id WHERE ",
        [str(settings.CRM_MARGIN), now],
    )


def _metrics_sql(chunk: Chunk, now: Any) -> _Sql:
    """INSERT … SELECT … ON CONFLICT DO UPDATE of ContactMetrics' base columns from lc_agg, changed rows only."""
    from analytics.models import ContactMetrics

    table = ContactMetrics._meta.db_table
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    columns = (*_METRIC_COLUMNS, "touch_count", "historic_clv")
    changed = " OR ".join(f"{table}.{col} {distinct} excluded.{col}" for col in columns)
    sql = (
        _metrics_insert_head(now)
        .part(chunk.predicate("c.id"))
        .add(
            " ON CONFLICT (contact_id) DO UPDATE SET "
            + ", ".join(f"{col} = excluded.{col}" for col in (*columns, "computed_at"))
            + f" WHERE {changed}"
        )
    )
    return sql


def _with_chunk(part: SqlPart, chunk: Chunk) -> tuple[str, list[Any]]:
    """Fill a statement's {chunk} placeholder with the chunk's predicate on c.id, parameters in order."""
    predicate = chunk.predicate("c.id")
    before = part.sql.split("{chunk}")[0].count("%s")
    params = list(part.params)
    return part.sql.replace("{chunk}", predicate.sql), params[:before] + list(predicate.params) + params[before:]


def _move_select(compiled: _CompiledRules, chunk: Chunk) -> tuple[str, list[Any]]:
    return _with_chunk(compiled.move_select, chunk)


def _candidates(cursor: Any, compiled: _CompiledRules, chunk: Chunk) -> tuple[int, list[int]]:
    """(contacts in the chunk, ids for which some rule's test holds): who may move, from lc_agg without events."""
    sql, params = _with_chunk(compiled.candidate_select, chunk)
    cursor.execute(sql, params)
    if connection.vendor == "postgresql":
        count, ids = cursor.fetchone()
        return int(count), sorted(ids or [])
    ids = sorted(int(row[0]) for row in cursor.fetchall())
    counted = chunk.predicate("c.id")
    cursor.execute(f"SELECT COUNT(*) FROM {_table('contacts', 'Contact')} c WHERE {counted.sql}", counted.params)
    return int(cursor.fetchone()[0]), ids


# (contact id, from stage, to stage, rule index, transition id or None when not written)
Move = tuple[int, int, int, int, int | None]


def _moves(
    cursor: Any, compiled: _CompiledRules, chunk: Chunk, *, now: Any, write: bool, prefix: _Sql | None = None
) -> list[Move]:
    """Plan the chunk's moves under the policy and, unless a dry run, apply them; return every planned move.

    A planned move whose transition id is None was not written: a concurrent writer moved
    that contact after this evaluation read it.
    """
    select_sql, params = _move_select(compiled, chunk)
    if not write:
        cursor.execute(f"SELECT contact_id, from_stage_id, to_stage_id, rule_idx FROM ({select_sql}) mv", params)
        return [(int(a), int(b), int(c), int(d), None) for a, b, c, d in cursor.fetchall()]
    contacts = _table("contacts", "Contact")
    transitions = StageTransition._meta.db_table
    touchpoints = _table("contacts", "Touchpoint")

    # The triggering touchpoint: the contact's touchpoint at the effective time (none for
    # silence rules, whose moment is "last purchase + N days").
    def trigger(column: str) -> str:
        return (
            f"(SELECT tp.{column} FROM {touchpoints} tp WHERE tp.contact_id = mv.contact_id"
            " AND tp.occurred_at = mv.effective_at ORDER BY tp.id DESC LIMIT 1)"
        )

    # Provenance (issue 17): a rule move is caused by its touchpoint, so it records who pushed or logged that.
    insert = (
        f"INSERT INTO {transitions} (contact_id, from_stage_id, to_stage_id, effective_at, recorded_at, source,"
        " rule_id, touchpoint_id, user_id, api_key_id, note, is_win_back)"
        f" SELECT mv.contact_id, mv.from_stage_id, mv.to_stage_id, mv.effective_at, %s, '{TransitionSource.RULE}',"
        f" mv.rule_id, {trigger('id')}, {trigger('logged_by_id')}, {trigger('api_key_id')}, '', mv.is_win_back"
        " FROM {source} mv"
    )
    still_there = "c.id = mv.contact_id AND c.stage_id = mv.from_stage_id AND c.stage_entered_at = mv.from_entered_at"
    update = (
        f"UPDATE {contacts} AS c SET stage_id = mv.to_stage_id, stage_entered_at = mv.effective_at,"
        f" stage_source = '{TransitionSource.RULE}', updated_at = %s FROM {{source}} mv WHERE {still_there}"
    )
    if connection.vendor == "postgresql":
        # One statement: the UPDATE takes the row locks and re-checks the old stage after a
        # concurrent writer commits; transitions are inserted only for the rows it returned.
        # `prefix` (real time) adds the aggregate and the metrics upsert as CTEs before it, so
        # the whole evaluation of a few contacts is a single round trip.
        head = f"{prefix.sql}, " if prefix is not None else "WITH "
        cursor.execute(
            f"{head}mv AS MATERIALIZED ({select_sql}),"
            f" upd AS ({update.format(source='mv')} RETURNING c.id),"
            f" ins AS ({insert.format(source='mv')} JOIN upd ON upd.id = mv.contact_id RETURNING id, contact_id)"
            " SELECT mv.contact_id, mv.from_stage_id, mv.to_stage_id, mv.rule_idx, ins.id"
            " FROM mv LEFT JOIN ins ON ins.contact_id = mv.contact_id",
            [*(prefix.params if prefix is not None else []), *params, now, now],
        )
        return [(int(a), int(b), int(c), int(d), int(e) if e is not None else None) for a, b, c, d, e in cursor]
    # SQLite has no data-modifying CTE, but its write lock is held for the whole
    # transaction (transaction_mode IMMEDIATE), so nobody can move these contacts between
    # the statements: plan into a temporary table, insert for the rows that still match,
    # then update them.
    cursor.execute(f"CREATE TEMPORARY TABLE lc_move AS {select_sql}", params)
    cursor.execute("SELECT contact_id, from_stage_id, to_stage_id, rule_idx FROM lc_move")
    planned = cursor.fetchall()
    written: dict[int, int] = {}
    if planned:
        cursor.execute(
            f"{insert.format(source='lc_move')} JOIN {contacts} c ON {still_there} RETURNING id, contact_id", [now]
        )
        written = {int(cid): int(tid) for tid, cid in cursor.fetchall()}
        cursor.execute(update.format(source="lc_move"), [now])
    cursor.execute("DROP TABLE lc_move")
    return [(int(a), int(b), int(c), int(d), written.get(int(a))) for a, b, c, d in planned]


def _evaluate_chunk(
    chunk: Chunk,
    compiled: _CompiledRules,
    *,
    cutoff: dt.datetime,
    stages: dict[int, Stage],
    dry_run: bool,
    write_metrics: bool,
    announce: bool = True,
) -> tuple[EvaluationResult, list[int]]:
    """Evaluate one chunk in one transaction; returns the result and the contacts lost to a concurrent writer."""
    result = EvaluationResult(chunks=1, dry_run=dry_run)
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())
    conflicted: list[int] = []
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and (not chunk.ids or len(chunk.ids) > 1000):
            # Big CASE expressions make the JIT compile for longer than the query runs (PERFORMANCE.md).
            cursor.execute("SET LOCAL jit = off")
        # Real time on PostgreSQL (a few ids): aggregate, metrics upsert, plan and writes in one
        # statement of CTEs, one round trip per pass; big chunks keep the temporary table (its
        # CREATE … AS SELECT may run in parallel, a data-modifying statement never does).
        single = (
            connection.vendor == "postgresql"
            and bool(chunk.ids)
            and len(chunk.ids) <= SINGLE_STATEMENT_MAX
            and bool(compiled.rules)
            and not dry_run
        )
        counted: int | None = None
        targets: Chunk | None = chunk if compiled.rules else None
        months: Chunk | None = chunk  # whose purchase months to rewrite: all of a small chunk
        if not single:
            # Two phases: the aggregate without the event-time columns feeds the metrics and
            # names the candidates (contacts for which some rule's test holds: every mover, plus
            # manually placed contacts a rule may not move). In the nightly steady state they
            # are a handful, and only their touchpoints are aggregated again with the events.
            # A few ids (real time on SQLite) keep the one-pass path: fewer statements.
            small = bool(chunk.ids) and len(chunk.ids) <= SINGLE_STATEMENT_MAX
            two_phase = bool(compiled.rules) and not small
            _aggregate(cursor, chunk, compiled, adapt(cutoff), events=not two_phase)
            if write_metrics and not dry_run:
                if small:
                    sql = _metrics_sql(chunk, now)
                    cursor.execute(sql.sql, sql.params)
                else:
                    # The purchase months follow the metrics: only contacts whose metrics row
                    # changed can have changed purchases (a steady nightly run writes none).
                    written = _write_metrics(cursor, chunk, now)
                    if not written:
                        months = None
                    elif 2 * len(written) < chunk.size_hint():
                        months = Chunk(ids=tuple(sorted(written)))  # else the whole chunk: one range predicate
            if two_phase:
                counted, candidates = _candidates(cursor, compiled, chunk)
                few = len(candidates) <= CANDIDATE_IDS_MAX and 2 * len(candidates) < counted
                targets = None if not candidates else Chunk(ids=tuple(candidates)) if few else chunk
                if targets is not None:
                    cursor.execute("DROP TABLE lc_agg")
                    _aggregate(cursor, targets, compiled, adapt(cutoff))
        if targets is not None:
            for pass_no in range(MAX_PASSES):
                prefix = None
                if single:
                    aggregate = _aggregate_sql(targets, compiled, adapt(cutoff))
                    prefix = _Sql().add(f"WITH lc_agg AS MATERIALIZED ({aggregate.sql})", aggregate.params)
                    if write_metrics:
                        metrics = _metrics_sql(targets, now)
                        prefix.add(f", lc_metrics AS ({metrics.sql})", metrics.params)
                planned = _moves(cursor, compiled, targets, now=now, write=not dry_run, prefix=prefix)
                applied = planned if dry_run else [move for move in planned if move[4] is not None]
                if pass_no == 0 and not dry_run:
                    conflicted = [move[0] for move in planned if move[4] is None]
                for cid, from_id, to_id, rule_idx, transition_id in applied:
                    from_slug = stages[from_id].slug if from_id in stages else from_id
                    result.moves[(from_slug, stages[to_id].slug)] += 1
                    rule_name = compiled.rules[rule_idx - 1].name
                    result.moves_by_rule[rule_name] += 1
                    if dry_run:
                        result.movers.append((cid, str(from_slug), stages[to_id].slug, rule_name))
                    if transition_id is not None:
                        result.transition_ids.append(transition_id)
                result.moved += len(applied)
                if dry_run or not applied:
                    break
                # One move can make the next rule apply (a prospect whose only purchase was 400
                # days ago: purchase, then churned). Evaluate the moved contacts again so a
                # single run converges and the history shows each step with its own time.
                targets = Chunk(ids=tuple(sorted(move[0] for move in applied)))
        if write_metrics and not dry_run and months is not None:
            _write_purchase_months(cursor, months, adapt(cutoff))
        # Temporary tables are dropped in the transaction that made them (a rollback drops
        # them too), so a pooled connection never carries one into the next chunk.
        if not single:
            cursor.execute("DROP TABLE lc_agg")
        if chunk.ids:
            result.contacts = len(chunk.ids)
        elif counted is not None:
            result.contacts = counted
        else:
            cursor.execute(
                f"SELECT COUNT(*) FROM {_table('contacts', 'Contact')} c WHERE {chunk.predicate('c.id').sql}",
                chunk.predicate("c.id").params,
            )
            result.contacts = cursor.fetchone()[0]
        if result.transition_ids and announce:
            ids = list(result.transition_ids)
            transaction.on_commit(lambda: _announce(ids))
    return result, conflicted


def _announce(transition_ids: list[int]) -> None:
    transitions_announce(transition_ids)


# --- the entry point ----------------------------------------------------------------------------


def lifecycle_evaluate(
    *,
    contact_ids: Sequence[int] | None = None,
    as_of: dt.date | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dry_run: bool = False,
    rules: list[RuleSpec] | None = None,
    id_range: tuple[int, int] | None = None,
    reference: dt.datetime | None = None,
    write_metrics: bool = True,
    progress: Callable[[int], None] | None = None,
    announce: bool | None = None,
) -> EvaluationResult:
    """Evaluate the stage rules for some contacts (ids), an id range, or all contacts, and apply the moves.

    One set-based path for every caller (real-time task, nightly chunk, command, preview):
    see the module docstring. `dry_run` computes the moves without writing anything (the
    admin's rule preview passes `rules` with the edited rule). `as_of` evaluates as if
    that day were today, ignoring later touchpoints. `progress(n)` is called with the
    number of contacts done after each chunk. Safe to run concurrently and repeatedly:
    a rerun over unchanged data moves nobody. `announce` (default: only without `as_of`)
    lets the moves cause side effects; a replay or an import evaluates quietly (issue 17).
    """
    started = time.perf_counter()
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    stages, active = _rules_and_stages()
    specs = active if rules is None else rules
    reference_ts, cutoff = evaluation_times(as_of=as_of, reference=reference)
    compiled = _compile_rules(specs, stages, reference=reference_ts, vendor=connection.vendor)
    total = EvaluationResult(dry_run=dry_run)
    if announce is None:
        announce = as_of is None
    if as_of is not None and not dry_run and as_of > timezone.localdate():
        raise ValueError("A future as-of is a simulation: evaluate it with dry_run=True (nothing is written).")
    if id_range is not None:
        chunks: Iterator[Chunk] = iter([Chunk(lo=id_range[0], hi=id_range[1])])
    elif contact_ids is not None and not contact_ids:
        return total
    else:
        chunks = _chunks(contact_ids, chunk_size)
    for chunk in chunks:
        result, conflicted = _evaluate_chunk(
            chunk,
            compiled,
            cutoff=cutoff,
            stages=stages,
            dry_run=dry_run,
            write_metrics=write_metrics,
            announce=announce,
        )
        attempts = 0
        while conflicted and attempts < MAX_CONFLICT_RETRIES:
            # Another worker moved these contacts after we read them: evaluate them again on
            # top of its committed result (a new transaction sees it).
            attempts += 1
            result.conflicts_retried += len(conflicted)
            retry, conflicted = _evaluate_chunk(
                Chunk(ids=tuple(conflicted)),
                compiled,
                cutoff=cutoff,
                stages=stages,
                dry_run=False,
                write_metrics=False,
                announce=announce,
            )
            retry.contacts = retry.chunks = 0
            result.merge(retry)
        if conflicted:
            logger.warning("%d contact(s) kept changing under evaluation; the next run catches them", len(conflicted))
        total.merge(result)
        if progress is not None:
            progress(result.contacts)
    total.seconds = time.perf_counter() - started
    return total
