"""Cohort retention: monthly cohorts by first purchase, share purchasing in month +k, revenue retention.

A customer's cohort is the calendar month of their first purchase (in the project's time
zone). Cell (cohort, k) counts the cohort's customers with a purchase in month cohort+k
and their purchase revenue; `share` is customers / cohort size and `revenue_retention`
is revenue / the cohort's month-0 revenue. Purchases are gross (refunds are not netted). A cell
about the as-of month, unless the as-of day ends it, is `partial`: a month not over yet, whose
share can still grow (the overview marks it instead of showing an unfinished month as a drop).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.daily_facts import cohort_facts_sum, daily_facts_enabled
from analytics.reports.base import (
    ReportFilters,
    as_money,
    contact_scope_sql,
    day_end,
    day_start,
    dt_param,
    month_index,
    ratio,
    run_sql,
    scope_clause,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable
from contacts.models import TouchpointKind
from metrics.sql import month_index_sql

DEFAULT_MONTHS = 12


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True, slots=True)
class CohortRetentionQuery:
    """The period bounds the cohorts' first-purchase months; `months` is the largest k shown."""

    filters: ReportFilters = field(default_factory=ReportFilters)
    as_of: dt.date | None = None
    months: int = field(default=DEFAULT_MONTHS, metadata={"minimum": 0, "maximum": 120})

    def validate(self) -> None:
        self.filters.validate()
        if not 0 <= self.months <= 120:
            raise ValidationError({"months": "Between 0 and 120."})

    @property
    def effective_as_of(self) -> dt.date:
        return self.as_of or timezone.localdate()


@dataclass(frozen=True, slots=True)
class RetentionCell:
    k: int
    customers: int
    share: float | None
    revenue: Decimal
    revenue_retention: float | None
    partial: bool = False  # the month is not over on the as-of day: figures so far, they can still grow


@dataclass(frozen=True, slots=True)
class Cohort:
    month: str
    size: int
    revenue: Decimal  # month-0 revenue
    cells: list[RetentionCell]


@dataclass(frozen=True, slots=True)
class CohortRetentionResult:
    as_of: dt.date
    months: int
    cohorts: list[Cohort]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@report_result()
def cohort_retention_report(query: CohortRetentionQuery) -> CohortRetentionResult:
    """Monthly first-purchase cohorts and their retention, in ONE statement.

    The months before the as-of month come from ContactPurchaseMonth, one row per contact and
    month with a purchase, carrying the contact's cohort (first-purchase month). The lifecycle
    engine writes those rows with every evaluation (real time after a touchpoint write, and
    nightly), as it writes ContactMetrics, so the report is a GROUP BY (cohort, month) of about
    1.5 rows per customer instead of a (contact, month) aggregation of every purchase with a
    window for the cohort (at 1M contacts / 20M touchpoints 3.7 s, see BENCHMARKS.md). The
    as-of month itself is read from the purchases up to the end of the as-of day, with the
    cohort from the contact's metrics (first_purchase_at), so a past as-of day cuts the month
    exactly. A customer's first purchase ever is also their first up to any day that has a
    purchase of theirs, so both sources are right for any as-of day. Months are local to the
    project's time zone. On PostgreSQL, without a campaign or segment filter, the months
    before the as-of month are read from the cohort rollup of those rows (analytics.daily_facts).
    """
    query.validate()
    as_of = query.effective_as_of
    last = month_index(as_of)
    low = month_index(query.filters.period_start) if query.filters.period_start else None
    high = month_index(query.filters.period_end) if query.filters.period_end else None
    scope = contact_scope_sql(query.filters)
    filters = query.filters
    # On PostgreSQL, for everyone or a channel and/or owner, the months before the as-of month
    # are summed from the cohort rollup the triggers keep (analytics.daily_facts) instead of
    # grouped from ContactPurchaseMonth; campaign and segment filters select contacts no
    # rollup key describes.
    rollup = filters.campaign_id is None and filters.segment_id is None and daily_facts_enabled()
    partial_scope, partial_params = scope_clause("t.contact_id", scope)
    cohort, cohort_params = month_index_sql("m.first_purchase_at")
    current = f"""
        SELECT p.cohort, %s, COUNT(*), SUM(p.revenue) FROM (
            SELECT {cohort} AS cohort, SUM(t.amount) AS revenue
            FROM contacts_touchpoint t JOIN analytics_contactmetrics m ON m.contact_id = t.contact_id
            WHERE t.kind = %s AND t.occurred_at >= %s AND t.occurred_at < %s
              AND m.first_purchase_at IS NOT NULL{partial_scope}
            GROUP BY t.contact_id, m.first_purchase_at
        ) p
        GROUP BY p.cohort
    """
    current_params = [
        last,
        *cohort_params,
        TouchpointKind.PURCHASE,
        dt_param(day_start(as_of.replace(day=1))),
        dt_param(day_end(as_of)),
        *partial_params,
    ]
    if rollup:
        found = cohort_facts_sum(
            channel=filters.channel, owner_id=filters.owner_id, before=last, months=query.months, low=low, high=high
        )
        found += run_sql(current, current_params)
    else:
        rollup_scope, rollup_params = scope_clause("r.contact_id", scope)
        if low is not None:
            rollup_scope += " AND r.cohort >= %s"
            rollup_params.append(low)
        if high is not None:
            rollup_scope += " AND r.cohort <= %s"
            rollup_params.append(high)
        sql = f"""
            SELECT r.cohort, r.month, COUNT(*), SUM(r.revenue)
            FROM analytics_contactpurchasemonth r
            WHERE r.month < %s AND r.month <= r.cohort + %s{rollup_scope}
            GROUP BY r.cohort, r.month
            UNION ALL {current}"""
        found = run_sql(sql, [last, query.months, *rollup_params, *current_params])
    rows = []
    for first, month, customers, revenue in found:
        first, k = int(first), int(month) - int(first)
        if 0 <= k <= query.months and (low is None or first >= low) and (high is None or first <= high):
            rows.append((first, k, customers, revenue))
    return _format(rows, as_of=as_of, months=query.months)


def _format(rows: list[tuple[Any, ...]], *, as_of: dt.date, months: int) -> CohortRetentionResult:
    by_cohort: dict[int, dict[int, tuple[int, Decimal]]] = {}
    for cohort, k, customers, revenue in rows:
        by_cohort.setdefault(int(cohort), {})[int(k)] = (int(customers), as_money(revenue))
    last_month = month_index(as_of)
    # The as-of month is unfinished unless the as-of day is its last day.
    unfinished = last_month if (as_of + dt.timedelta(days=1)).day != 1 else None
    cohorts = []
    for cohort, cells in sorted(by_cohort.items()):
        size, revenue0 = cells.get(0, (0, Decimal("0.00")))
        horizon = min(months, last_month - cohort)
        row = []
        for k in range(horizon + 1):
            customers, revenue = cells.get(k, (0, Decimal("0.00")))
            row.append(
                RetentionCell(
                    k=k,
                    customers=customers,
                    share=ratio(customers, size),
                    revenue=revenue,
                    revenue_retention=ratio(revenue, revenue0),
                    partial=cohort + k == unfinished,
                )
            )
        cohorts.append(Cohort(month=month_label(cohort), size=size, revenue=revenue0, cells=row))
    return CohortRetentionResult(as_of=as_of, months=months, cohorts=cohorts)
