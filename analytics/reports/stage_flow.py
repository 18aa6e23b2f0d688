"""Stage flow: the matrix of transitions between stages in a period (feeds a Sankey chart).

From the transition history: each row is a (from, to) pair with the number of moves and
of distinct contacts that made it in the period. `from_stage` is None for a contact's
first placement (entering the lifecycle).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    contact_scope_sql,
    day_end,
    day_start,
    dt_param,
    run_sql,
    scope_clause,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable

DEFAULT_PERIOD_DAYS = 30


@dataclass(frozen=True, slots=True)
class StageFlowQuery:
    """The period bounds the transitions' effective time; it defaults to the last 30 days."""

    filters: ReportFilters = field(default_factory=ReportFilters)

    def validate(self) -> None:
        self.filters.validate()

    def period(self) -> tuple[dt.date, dt.date]:
        end = self.filters.period_end or timezone.localdate()
        start = self.filters.period_start or end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        return start, end


@dataclass(frozen=True, slots=True)
class StageFlow:
    from_stage: str | None
    to_stage: str
    transitions: int
    contacts: int


@dataclass(frozen=True, slots=True)
class StageFlowResult:
    period_start: dt.date
    period_end: dt.date
    flows: list[StageFlow]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    @property
    def total(self) -> int:
        return sum(f.transitions for f in self.flows)

    def matrix(self) -> dict[str | None, dict[str, int]]:
        """{from: {to: transitions}}."""
        out: dict[str | None, dict[str, int]] = {}
        for f in self.flows:
            out.setdefault(f.from_stage, {})[f.to_stage] = f.transitions
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**to_jsonable(self), "total": self.total}


@report_result(closed_periods=True)
def stage_flow_report(query: StageFlowQuery) -> StageFlowResult:
    """Transitions between stages in a period, grouped by (from, to), in ONE statement."""
    query.validate()
    start, end = query.period()
    scope, scope_params = scope_clause("t.contact_id", contact_scope_sql(query.filters))
    # Grouped by the stage ids (integers), and the slugs joined to the ~20 groups afterwards:
    # grouping by the slugs sorted every transition of the period by two collated strings
    # (1M contacts, a year of 1.25M transitions: 1.19-1.23 s against 1.67-1.69 s).
    sql = f"""
        WITH f AS (
            SELECT t.from_stage_id, t.to_stage_id, COUNT(*) AS transitions, COUNT(DISTINCT t.contact_id) AS contacts
            FROM stages_stagetransition t
            WHERE t.effective_at >= %s AND t.effective_at < %s{scope}
            GROUP BY t.from_stage_id, t.to_stage_id
        )
        SELECT fs.slug, ts.slug, f.transitions, f.contacts
        FROM f
        JOIN stages_stage ts ON ts.id = f.to_stage_id
        LEFT JOIN stages_stage fs ON fs.id = f.from_stage_id
        ORDER BY COALESCE(fs.position, -1), ts.position
    """
    rows = run_sql(sql, [dt_param(day_start(start)), dt_param(day_end(end)), *scope_params])
    return StageFlowResult(
        period_start=start,
        period_end=end,
        flows=[StageFlow(from_stage=a, to_stage=b, transitions=int(n), contacts=int(c)) for a, b, n, c in rows],
    )
