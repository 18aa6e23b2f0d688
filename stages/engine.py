"""The lifecycle engine: one set-based evaluation path for one contact, a list of contacts or all of them.

Per chunk of contact ids, in one transaction:
1. `lc_agg` (temporary table): one GROUP BY over the chunk's touchpoints up to the cut-off,
   producing the base metrics and the counts the active rules test — without the
   event-time columns (when a rising condition became true), which cost about a third of
   the aggregate. It is a separate statement so PostgreSQL may plan it in parallel (an
   UPDATE never is) and so the statements below read it without aggregating twice.
2. The base columns of metrics.ContactMetrics are written from it (an UPDATE joined to
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
5. The purchase months of metrics.ContactPurchaseMonth (the cohort-retention rollup) are
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

Modules: stages.engine_base (chunks, time bounds, SQL assembly), stages.engine_rules (the
rules, the policy and their compilation), stages.engine_facts (the aggregate and the facts
written from it, steps 1, 2 and 5), and this one (the passes and moves, steps 2b-4).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from stages.announce import transitions_announce
from stages.engine_base import DEFAULT_CHUNK_SIZE, Chunk, _chunks, _Sql, _table, evaluation_times
from stages.engine_facts import _aggregate, _aggregate_sql, _metrics_sql, _write_metrics, _write_purchase_months
from stages.engine_rules import RuleSpec, _compile_rules, _CompiledRules, _rules_and_stages
from stages.models import Stage, StageTransition, TransitionSource
from stages.rules import SqlPart

logger = logging.getLogger(__name__)
MAX_CONFLICT_RETRIES = 3
SINGLE_STATEMENT_MAX = 200  # ids evaluated in one statement on PostgreSQL (real time)
CANDIDATE_IDS_MAX = 5000  # more candidates than this re-aggregate their whole chunk (a first placement)
MAX_PASSES = 4  # prospect -> customer -> exit is the longest chain of moves one evaluation can need


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
            # In the chunk's transaction: the receivers' tasks are outbox rows committed with the moves.
            _announce(list(result.transition_ids))
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
