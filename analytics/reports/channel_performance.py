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
- **A recent past `as_of`** (up to RECENT_DAYS ago): customers are the contacts whose first
  purchase (metrics) came before the day's end; revenue is the metrics' present revenue less
  the purchases and refunds after the day (the whole months since from the engine's
  purchase-month rollup, the rest from small partial indexes on the time). Only the days
  since are read.
- **An older `as_of`**: history is re-read from the touchpoints up to the end of that day (the
  days since would be most of the history).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from analytics.daily_facts import acquisition_facts_sum, daily_facts_enabled
from analytics.reports.base import (
    ReportFilters,
    as_float,
    as_money,
    contact_scope_sql,
    day_end,
    day_start,
    dt_param,
    month_index,
    month_start,
    ratio,
    run_sql,
    scope_clause,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable

RECENT_DAYS = 400  # up to this many days back, as of = metrics less the later money (see _recent_sql)


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


@report_result()
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
    today = timezone.localdate()
    filters = query.filters
    if as_of >= today and filters.campaign_id is None and filters.segment_id is None and daily_facts_enabled():
        # The same figures summed from the acquisition rollup the triggers keep (analytics.daily_facts):
        # a few thousand rows instead of the contacts acquired in the period joined to their metrics.
        rows = acquisition_facts_sum(
            channel=filters.channel, owner_id=filters.owner_id, first=filters.period_start, last=filters.period_end
        )
        return _result(as_of, rows)
    if as_of >= today:
        return _result(as_of, run_sql(_now_sql(scope), params))
    end = dt_param(day_end(as_of))
    if (today - as_of).days <= RECENT_DAYS:
        month = month_index(as_of)
        later_params = [month, end, dt_param(day_start(month_start(month + 1))), end]
        return _result(as_of, run_sql(_recent_sql(scope), [end, end, *params, *later_params, *params]))
    return _result(as_of, run_sql(_history_sql(scope), [end, *params]))


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


def _recent_sql(scope: str) -> str:
    """Per channel as of a recent day, from the metrics and the money after that day.

    A contact was a customer on the day iff its first purchase (metrics.first_purchase_at) is
    before the day's end, so customers and their average CLV come from the metrics alone; the
    net revenue on the day is the metrics' present revenue less the purchases and refunds
    after it, summed per channel (`later`, joined to the contacts for their channel). The
    purchases after the day are read in two parts: the rest of the as-of month from the
    partial purchase index on (occurred_at, contact), the whole months after it from
    ContactPurchaseMonth (the engine's per-contact monthly rollup, written with the metrics,
    so both are as fresh as the last evaluation), which has about 2.5 times fewer rows than
    the purchases they sum; refunds from their own partial index. Both halves run in parallel
    on PostgreSQL, and only the days since are read. At 1M contacts / 20M touchpoints, a year
    back: 1.46-1.68 s against 1.78-2.08 s reading every later purchase (BENCHMARKS.md), and
    22 days back 0.75-0.89 s; `_history_sql` took 2.2 s a year back and wins only when most
    of the money came after the day.
    """
    return f"""
        WITH base AS (
            SELECT c.acquisition_channel AS channel, COUNT(*) AS contacts,
                   SUM(CASE WHEN m.purchase_count > 0 AND m.first_purchase_at < %s THEN 1 ELSE 0 END) AS customers,
                   SUM(COALESCE(m.revenue, 0)) AS revenue,
                   AVG(CASE WHEN m.purchase_count > 0 AND m.first_purchase_at < %s THEN m.predicted_clv END) AS clv
            FROM contacts_contact c
            LEFT JOIN analytics_contactmetrics m ON m.contact_id = c.id
            WHERE 1 = 1{scope}
            GROUP BY c.acquisition_channel
        ),
        later AS (
            SELECT c.acquisition_channel AS channel, SUM(x.net) AS net FROM (
                SELECT contact_id, revenue AS net FROM analytics_contactpurchasemonth
                WHERE month > %s
                UNION ALL
                SELECT contact_id, amount AS net FROM contacts_touchpoint
                WHERE kind = 'purchase' AND occurred_at >= %s AND occurred_at < %s
                UNION ALL
                SELECT contact_id, -amount AS net FROM contacts_touchpoint
                WHERE kind = 'refund' AND occurred_at >= %s
            ) x
            JOIN contacts_contact c ON c.id = x.contact_id
            WHERE 1 = 1{scope}
            GROUP BY c.acquisition_channel
        )
        SELECT b.channel, b.contacts, b.customers, b.revenue - COALESCE(l.net, 0), b.clv
        FROM base b LEFT JOIN later l ON l.channel = b.channel
        ORDER BY b.channel
    """


def _history_sql(scope: str) -> str:
    """Per channel as of a day further back: every purchase and refund up to that day, per contact.

    `money` streams presorted by contact from touchpoint_money_idx (index-only, purchases and
    refunds only) with one signed SUM; the metrics row is joined to the contacts that have
    money, and only the CLV of customers is carried to the per-channel aggregate.
    """
    return f"""
        WITH money AS (
            SELECT contact_id,
                   SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END) AS purchases,
                   SUM(CASE WHEN kind = 'refund' THEN -amount ELSE amount END) AS net
            FROM contacts_touchpoint
            WHERE kind IN ('purchase', 'refund') AND occurred_at < %s
            GROUP BY contact_id
        ),
        mm AS (
            SELECT mo.contact_id, mo.purchases, mo.net,
                   CASE WHEN mo.purchases > 0 THEN m.predicted_clv END AS clv
            FROM money mo
            LEFT JOIN analytics_contactmetrics m ON m.contact_id = mo.contact_id
        )
        SELECT c.acquisition_channel,
               COUNT(*),
               SUM(CASE WHEN mm.purchases > 0 THEN 1 ELSE 0 END),
               SUM(COALESCE(mm.net, 0)),
               AVG(mm.clv)
        FROM contacts_contact c
        LEFT JOIN mm ON mm.contact_id = c.id
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
