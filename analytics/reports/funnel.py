"""Funnel over the lifecycle path: who reached each stage, conversion, drop-off, time to the next stage.

Computed from the transition history, so it can be asked as of any past date. Two
variants, both from the same statement:
* reached-at-all (`ordered=False`): a contact counts at a stage if they ever entered it;
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
from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    SnapshotInfo,
    contact_scope_sql,
    day_end,
    day_start,
    days_between_sql,
    dt_param,
    median_sql,
    ratio,
    run_sql,
    scope_clause,
    served_from_snapshot,
    to_jsonable,
)


@dataclass(frozen=True, slots=True)
class FunnelQuery:
    """Funnel parameters; `as_of` defaults to today, the period filters funnel entry dates."""

    filters: ReportFilters = field(default_factory=ReportFilters)
    as_of: dt.date | None = None
    ordered: bool = True
    conversion_window_days: int | None = None

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


def _sql(query: FunnelQuery) -> tuple[str, list[Any]]:
    params: list[Any] = [True, dt_param(day_end(query.effective_as_of))]
    scope, scope_params = scope_clause("t.contact_id", contact_scope_sql(query.filters))
    params += scope_params
    conditions = ""
    if query.filters.period_start:
        conditions += " AND start_at >= %s"
        params.append(dt_param(day_start(query.filters.period_start)))
    if query.filters.period_end:
        conditions += " AND start_at < %s"
        params.append(dt_param(day_end(query.filters.period_end)))
    if query.conversion_window_days is not None:
        conditions += f" AND {days_between_sql('start_at', 'entered_at')} <= %s"
        params.append(query.conversion_window_days)
    med_cols, med_pred = median_sql("d", "rk")
    sql = f"""
        WITH path AS (
            SELECT id, slug, name, position, ROW_NUMBER() OVER (ORDER BY position) AS rk
            FROM stages_stage WHERE is_active = %s AND category <> 'exit'
        ),
        firsts AS (
            SELECT t.contact_id, p.rk, MIN(t.effective_at) AS entered_at
            FROM stages_stagetransition t JOIN path p ON p.id = t.to_stage_id
            WHERE t.effective_at < %s{scope}
            GROUP BY t.contact_id, p.rk
        ),
        started AS (
            -- Same window order as `seq` below, so PostgreSQL sorts the rows once.
            SELECT contact_id, rk, entered_at,
                   MIN(entered_at) OVER (
                       PARTITION BY contact_id ORDER BY rk ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                   ) AS start_at
            FROM firsts
        ),
        windowed AS (
            SELECT contact_id, rk, entered_at FROM started WHERE 1 = 1{conditions}
        ),
        seq AS (
            SELECT contact_id, rk, entered_at,
                   ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY rk) AS rn,
                   LAG(entered_at) OVER (PARTITION BY contact_id ORDER BY rk) AS prev_at,
                   LEAD(rk) OVER (PARTITION BY contact_id ORDER BY rk) AS next_rk,
                   LEAD(entered_at) OVER (PARTITION BY contact_id ORDER BY rk) AS next_at
            FROM windowed
        ),
        flagged AS (
            SELECT contact_id, rk, entered_at, next_rk, next_at,
                   SUM(CASE WHEN rn = rk AND (prev_at IS NULL OR entered_at >= prev_at) THEN 1 ELSE 0 END)
                       OVER (PARTITION BY contact_id ORDER BY rk ROWS UNBOUNDED PRECEDING) AS ok_count
            FROM seq
        ),
        durations AS (
            SELECT rk, {days_between_sql("entered_at", "next_at")} AS d,
                   CASE WHEN ok_count = rk THEN 1 ELSE 0 END AS in_order
            FROM flagged WHERE next_rk = rk + 1 AND next_at >= entered_at
        ),
        med_any AS (
            SELECT rk, AVG(d) AS m FROM (SELECT rk, d, {med_cols} FROM durations) x
            WHERE {med_pred} GROUP BY rk
        ),
        med_ordered AS (
            SELECT rk, AVG(d) AS m FROM (SELECT rk, d, {med_cols} FROM durations WHERE in_order = 1) x
            WHERE {med_pred} GROUP BY rk
        ),
        counts AS (
            SELECT rk, COUNT(*) AS reached_any, SUM(CASE WHEN ok_count = rk THEN 1 ELSE 0 END) AS reached_ordered
            FROM flagged GROUP BY rk
        )
        SELECT p.slug, p.name, p.position, COALESCE(c.reached_any, 0), COALESCE(c.reached_ordered, 0),
               ma.m, mo.m
        FROM path p
        LEFT JOIN counts c ON c.rk = p.rk
        LEFT JOIN med_any ma ON ma.rk = p.rk
        LEFT JOIN med_ordered mo ON mo.rk = p.rk
        ORDER BY p.rk
    """
    return sql, params


@served_from_snapshot()
def funnel_report(query: FunnelQuery) -> FunnelResult:
    """Funnel over the lifecycle path as of a date, in ONE statement (window functions over the history)."""
    query.validate()
    sql, params = _sql(query)
    rows = run_sql(sql, params)
    steps: list[FunnelStep] = []
    first = previous = None
    for slug, name, position, reached_any, reached_ordered, median_any, median_ordered in rows:
        reached = int(reached_ordered if query.ordered else reached_any)
        median = median_ordered if query.ordered else median_any
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
