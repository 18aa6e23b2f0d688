"""Funnel over the lifecycle path: who reached each stage, conversion, drop-off, time to the next stage.

Computed from the transition history, so it can be asked as of any past date. Two
variants (the statement computes the one asked for):
* reached-at-all (`ordered=False`): a contact counts at a stage if they ever entered it or a
  later path stage (skipping a stage still passes it);
* ordered (`ordered=True`, the default): a contact counts at stage k if they entered
  every stage 1..k of the path, each (first entry) no earlier than the previous one.
The path is the active non-exit stages by position. A contact's funnel starts at their
first entry into any path stage; the period bounds that start (a cohort of entrants) and
the conversion window (days) bounds how long after it later stages still count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    contact_scope_sql,
    day_end,
    day_start,
    days_between_sql,
    dt_param,
    median_sql,
    ratio,
    run_sql,
    scope_clause,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable


@dataclass(frozen=True, slots=True)
class FunnelQuery:
    """Funnel parameters; `as_of` defaults to today, the period filters funnel entry dates."""

    filters: ReportFilters = field(default_factory=ReportFilters)
    as_of: dt.date | None = None
    ordered: bool = True
    conversion_window_days: int | None = field(default=None, metadata={"minimum": 1, "maximum": 3660})

    def validate(self) -> None:
        self.filters.validate()
        if self.conversion_window_days is not None and not 1 <= self.conversion_window_days <= 3660:
            raise ValidationError({"conversion_window_days": "Between 1 and 3660 days."})

    @property
    def effective_as_of(self) -> dt.date:
        return self.as_of or timezone.localdate()


@dataclass(frozen=True, slots=True)
class FunnelStep:
    stage: str
    name: str
    position: int
    reached: int
    step_conversion: float | None  # reached / reached at the previous step
    cumulative_conversion: float | None  # reached / reached at the first step
    drop_off: int  # reached at the previous step - reached here
    median_days_to_next: float | None  # among contacts who reached this and the next step


@dataclass(frozen=True, slots=True)
class FunnelResult:
    as_of: dt.date
    ordered: bool
    conversion_window_days: int | None
    steps: list[FunnelStep]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    @property
    def entered(self) -> int:
        return self.steps[0].reached if self.steps else 0

    def as_dict(self) -> dict[str, Any]:
        return {**to_jsonable(self), "entered": self.entered}


# How many path stages the statement pivots into columns. The path itself is read inside the
# statement (so it is always current); this is only how many columns to spell out. A
# statement narrower than the path is seen from its rows and run again wider (remembered).
_pivot_width = 7  # the seeded default path


def _sql(query: FunnelQuery, width: int) -> tuple[str, list[Any]]:
    """The funnel statement over the first `width` path stages: one row per contact, no window functions.

    Per contact: e_k = first entry into path stage k (before the as-of end), start_at = the
    earliest of them; the period bounds start_at and the conversion window drops each e_k
    later than `window` days after it. Then
    * reached at all at k: e_k is set;
    * ordered at k: e_1..e_k are all set and non-decreasing, i.e. k <= `in_order`, the
      length of that prefix;
    * time to next at k: e_k -> e_(k+1) where both are set and e_(k+1) >= e_k (any order),
      and additionally k <= in_order (ordered).
    This equals ranking each contact's firsts by stage and comparing neighbours (the former
    window-function statement): no gap below k means every stage 1..k is present.
    Medians are the mean of the two middle values. PostgreSQL picks them with
    PERCENTILE_DISC at 0.5 (row ceil(n/2)) and 0.5 + 1e-9 (row n/2 + 1 for even n, the
    same row for odd n; exact below 500M rows) over the intervals, and converts only the
    two to days; SQLite has no ordered-set aggregates, so its durations are unpivoted and
    ranked (`median_sql`).
    """
    postgres = connection.vendor == "postgresql"
    ranks = range(1, max(width, 2) + 1)  # at least one step with a next one, so the SQL below stays valid
    e = [f"e{k}" for k in ranks]
    params: list[Any] = [True]
    first_of = [
        f"MIN(t.effective_at) FILTER (WHERE t.to_stage_id = (SELECT id FROM path WHERE rk = {k}))" for k in ranks
    ]
    firsts = ",\n".join(f"{first} AS e{k}" for k, first in zip(ranks, first_of, strict=True))
    # Only path transitions are read, so the earliest of them is a plain MIN (LEAST(e1, ...) would repeat
    # the aggregates: their stage subqueries make them different expressions to PostgreSQL). On PostgreSQL
    # the path ids are one array (an InitPlan): `IN (SELECT ...)` would become a join and lose the index order.
    if query.filters.period_start or query.filters.period_end or (query.conversion_window_days and not postgres):
        firsts += ",\nMIN(t.effective_at) AS start_at"
    in_path = "= ANY (ARRAY(SELECT id FROM path))" if postgres else "IN (SELECT id FROM path)"
    params.append(dt_param(day_end(query.effective_as_of)))
    scope, scope_params = scope_clause("t.contact_id", contact_scope_sql(query.filters))
    params += scope_params
    # PostgreSQL pulls simple subqueries up into the one above and repeats their expressions at
    # every use (in_order is used by 13 aggregates, a windowed e_k by ~4 expressions): OFFSET 0
    # keeps a subquery whole, so each expression is computed once per contact.
    fence = "\n OFFSET 0" if postgres else ""
    window = query.conversion_window_days is not None
    if not window:
        windowed = ", ".join(e)
    elif postgres:
        # The window's end once per contact (exact microseconds: an interval of hours, no calendar days), so
        # each stage is one comparison; the same test as EXTRACT(EPOCH FROM e - start_at) / 86400.0 <= days.
        firsts += ",\nMIN(t.effective_at) + %s * INTERVAL '24 hours' AS window_end"
        params.insert(1, query.conversion_window_days)  # it comes before the as-of end in the statement
        windowed = ", ".join(f"CASE WHEN {x} <= window_end THEN {x} END AS {x}" for x in e)
    else:
        late = days_between_sql("start_at", "{e}") + " <= %s"
        windowed = ", ".join(f"CASE WHEN {late.format(e=x)} THEN {x} END AS {x}" for x in e)
        params += [query.conversion_window_days] * len(e)
    conditions = ""
    if query.filters.period_start:
        conditions += " AND start_at >= %s"
        params.append(dt_param(day_start(query.filters.period_start)))
    if query.filters.period_end:
        conditions += " AND start_at < %s"
        params.append(dt_param(day_end(query.filters.period_end)))
    # Only the variant asked for is computed: the ordered one needs in_order, the other does not.
    if query.ordered:
        in_order = (
            ",\n CASE WHEN e1 IS NULL THEN 0 "
            + " ".join(f"WHEN NOT COALESCE(e{k} >= e{k - 1}, FALSE) THEN {k - 1}" for k in ranks[1:])
            + f" ELSE {ranks[-1]} END AS in_order"
        )
        counted = {k: f"COUNT(*) FILTER (WHERE in_order >= {k})" for k in ranks}
        timed = {k: f"d{k} IS NOT NULL AND in_order >= {k}" for k in ranks}
    else:
        in_order = ""
        # Reached this stage or a later one: a contact who skipped a stage (a first purchase straight into
        # Retention) has still passed it, so the steps never grow and the Purchase step counts every buyer.
        counted = {k: f"COUNT({_coalesce(e[k - 1 :])})" for k in ranks}
        timed = {k: f"d{k} IS NOT NULL" for k in ranks}
    # On PostgreSQL an interval (it sorts like the days); only the two middle ones become days.
    gap = "{b} - {a}" if postgres else days_between_sql("{a}", "{b}")
    durations = "".join(
        f",\n CASE WHEN e{k + 1} >= e{k} THEN {gap.format(a=f'e{k}', b=f'e{k + 1}')} END AS d{k}" for k in ranks[:-1]
    )
    counts = ", ".join(f"{counted[k]} AS n{k}" for k in ranks)

    def pick(column: str, steps: range = ranks, wrap: str = "a.{}") -> str:
        return "CASE p.rk " + " ".join(f"WHEN {k} THEN {wrap.format(f'{column}{k}')}" for k in steps) + " END"

    if postgres:
        fractions = "ARRAY[0.5, 0.500000001]"
        medians = "".join(
            f""",
            PERCENTILE_DISC({fractions}) WITHIN GROUP (ORDER BY d{k}) FILTER (WHERE {timed[k]}) AS m{k}"""
            for k in ranks[:-1]
        )
        days = "(EXTRACT(EPOCH FROM {}) / 86400.0)"  # what days_between_sql() gives for the same interval
        mid = f"({days.format('a.{0}[1]')} + {days.format('a.{0}[2]')}) / 2"
        median_ctes = median_joins = ""
        median = pick("m", ranks[:-1], mid)
    else:
        medians = ""
        med_cols, med_pred = median_sql("d", "rk")
        unpivoted = " UNION ALL ".join(f"SELECT {k} AS rk, d{k} AS d FROM flagged WHERE {timed[k]}" for k in ranks[:-1])
        median_ctes = f""",
        durations AS ({unpivoted}),
        med AS (
            SELECT rk, AVG(d) AS m FROM (SELECT rk, d, {med_cols} FROM durations) x
            WHERE {med_pred} GROUP BY rk
        )"""
        median = "md.m"
        median_joins = "LEFT JOIN med md ON md.rk = p.rk"
    sql = f"""
        WITH path AS (
            SELECT id, slug, name, position, ROW_NUMBER() OVER (ORDER BY position) AS rk
            FROM stages_stage WHERE is_active = %s AND category <> 'exit'
        ),
        firsts AS (
            -- One group per contact, streamed from the (contact_id, effective_at) INCLUDE (to_stage_id) index.
            SELECT {firsts}
            FROM stages_stagetransition t
            WHERE t.to_stage_id {in_path} AND t.effective_at < %s{scope}
            GROUP BY t.contact_id
        ),
        windowed AS (
            SELECT {windowed} FROM firsts WHERE 1 = 1{conditions}{fence if window else ""}
        ),
        flagged AS (
            SELECT {", ".join(e)}{in_order}{durations}
            FROM windowed{fence}
        ),
        agg AS (
            SELECT {counts}{medians}
            FROM flagged
        ){median_ctes}
        SELECT p.slug, p.name, p.position, {pick("n")}, {median}
        FROM path p CROSS JOIN agg a {median_joins}
        ORDER BY p.rk
    """
    return sql, params


def _coalesce(columns: list[str]) -> str:
    """COALESCE of the columns (a lone column as it is: SQLite's COALESCE needs two arguments)."""
    return columns[0] if len(columns) == 1 else f"COALESCE({', '.join(columns)})"


@report_result()
def funnel_report(query: FunnelQuery) -> FunnelResult:
    """Funnel over the lifecycle path as of a date, in ONE statement (first entries pivoted per contact).

    A second statement runs only when the path has more stages than the pivot width guessed.
    """
    global _pivot_width
    query.validate()
    rows = run_sql(*_sql(query, _pivot_width))
    if len(rows) > _pivot_width:  # the path grew since the width was chosen: pivot all of it
        _pivot_width = len(rows)
        rows = run_sql(*_sql(query, _pivot_width))
    steps: list[FunnelStep] = []
    first = previous = None
    for slug, name, position, reached_count, median in rows:
        reached = int(reached_count)
        if first is None:
            first = reached
        steps.append(
            FunnelStep(
                stage=slug,
                name=name,
                position=int(position),
                reached=reached,
                step_conversion=ratio(reached, previous) if previous is not None else (1.0 if reached else None),
                cumulative_conversion=ratio(reached, first),
                drop_off=(previous - reached) if previous is not None else 0,
                median_days_to_next=round(float(median), 6) if median is not None else None,
            )
        )
        previous = reached
    # The last step has no next stage.
    return FunnelResult(
        as_of=query.effective_as_of,
        ordered=query.ordered,
        conversion_window_days=query.conversion_window_days,
        steps=steps,
    )
