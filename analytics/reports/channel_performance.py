"""Acquisition channel performance: contacts, conversion to customer, revenue and average CLV.

Per acquisition channel over the contacts acquired in the period (all contacts when no
period is given): how many became customers (a purchase up to `as_of`), the conversion
rate, net revenue (purchases - refunds up to `as_of`) and the average predicted CLV of
its customers (from the latest customer-value recompute).

Two sources, one answer:
- **Now** (no `as_of`, or today or later; what the dashboard asks): each contact's purchase
  count and net revenue come from its ContactMetrics row, which the lifecycle engine rewrites
  after every touchpoint write (real time) and nightly. One join of contacts to metrics
  instead of re-aggregating every purchase and refund: at 1M contacts / 20M touchpoints
  1.6 to 2.3 s instead of 4 to 7 s on the same loaded 2-core machine (BENCHMARKS.md). The figures
  are as fresh as the stages are; like the engine, they count every stored touchpoint.
- **A past `as_of`**: the same metrics minus the purchases and refunds that occurred after
  that day (read from small partial indexes on the time): the present is exact, and so is
  the present less what came later. Only the days since `as_of` are read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    SnapshotInfo,
    as_float,
    as_money,
    contact_scope_sql,
    day_end,
    day_start,
    dt_param,
    ratio,
    run_sql,
    scope_clause,
    served_from_snapshot,
    to_jsonable,
)


@dataclass(frozen=True, slots=True)
class ChannelPerformanceQuery:
    filters: ReportFilters = field(default_factory=ReportFilters)
    as_of: dt.date | None = None

    def validate(self) -> None:
        self.filters.validate()

    @property
    def effective_as_of(self) -> dt.date:
        return self.as_of or timezone.localdate()


@dataclass(frozen=True, slots=True)
class ChannelPerformance:
    channel: str
    contacts: int
    customers: int
    conversion_rate: float | None
    revenue: Decimal
    avg_clv: float | None


@dataclass(frozen=True, slots=True)
class ChannelPerformanceResult:
    as_of: dt.date
    channels: list[ChannelPerformance]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@served_from_snapshot()
def channel_performance_report(query: ChannelPerformanceQuery) -> ChannelPerformanceResult:
    """Per-channel funnel-to-revenue figures, in ONE statement (contacts joined to their metrics)."""
    query.validate()
    as_of = query.effective_as_of
    scope, params = scope_clause("c.id", contact_scope_sql(query.filters))
    if query.filters.period_start:
        scope += " AND c.acquired_at >= %s"
        params.append(dt_param(day_start(query.filters.period_start)))
    if query.filters.period_end:
        scope += " AND c.acquired_at < %s"
        params.append(dt_param(day_end(query.filters.period_end)))
    if as_of >= timezone.localdate():
        return _result(as_of, run_sql(_now_sql(scope), params))
    return _result(as_of, run_sql(_as_of_sql(scope), [dt_param(day_end(as_of)), dt_param(day_end(as_of)), *params]))


def _now_sql(scope: str) -> str:
    """Per channel from the contacts' metrics rows (see the module docstring): no touchpoint is read."""
    return f"""
        SELECT c.acquisition_channel,
               COUNT(*),
               SUM(CASE WHEN m.purchase_count > 0 THEN 1 ELSE 0 END),
               SUM(COALESCE(m.revenue, 0)),
               AVG(CASE WHEN m.purchase_count > 0 THEN m.predicted_clv END)
        FROM contacts_contact c
        LEFT JOIN analytics_contactmetrics m ON m.contact_id = c.id
        WHERE 1 = 1{scope}
        GROUP BY c.acquisition_channel
        ORDER BY c.acquisition_channel
    """


def _as_of_sql(scope: str) -> str:
    """Per channel as of a past day: the metrics minus the purchases and refunds after that day.

    `later` reads only the money after the as-of day, index-only from the partial purchase and
    refund indexes on (occurred_at, contact): for a recent day a few rows, however long the
    history. The old statement re-aggregated every purchase and refund up to the day (3.3 s
    at 1M contacts / 20M touchpoints, see BENCHMARKS.md).
    """
    bought = "COALESCE(m.purchase_count, 0) - COALESCE(l.purchases, 0) > 0"
    return f"""
        WITH later AS (
            SELECT contact_id, SUM(n) AS purchases, SUM(net) AS net FROM (
                SELECT contact_id, 1 AS n, amount AS net FROM contacts_touchpoint
                WHERE kind = 'purchase' AND occurred_at >= %s
                UNION ALL
                SELECT contact_id, 0 AS n, -amount AS net FROM contacts_touchpoint
                WHERE kind = 'refund' AND occurred_at >= %s
            ) x
            GROUP BY contact_id
        )
        SELECT c.acquisition_channel,
               COUNT(*),
               SUM(CASE WHEN {bought} THEN 1 ELSE 0 END),
               SUM(COALESCE(m.revenue, 0) - COALESCE(l.net, 0)),
               AVG(CASE WHEN {bought} THEN m.predicted_clv END)
        FROM contacts_contact c
        LEFT JOIN analytics_contactmetrics m ON m.contact_id = c.id
        LEFT JOIN later l ON l.contact_id = c.id
        WHERE 1 = 1{scope}
        GROUP BY c.acquisition_channel
        ORDER BY c.acquisition_channel
    """


def _result(as_of: dt.date, rows: list[tuple[Any, ...]]) -> ChannelPerformanceResult:
    return ChannelPerformanceResult(
        as_of=as_of,
        channels=[
            ChannelPerformance(
                channel=channel,
                contacts=int(contacts),
                customers=int(customers or 0),
                conversion_rate=ratio(customers or 0, contacts),
                revenue=as_money(revenue),
                avg_clv=round(as_float(avg), 6) if avg is not None else None,
            )
            for channel, contacts, customers, revenue, avg in rows
        ],
    )
