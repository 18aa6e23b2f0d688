"""Cohort retention: monthly cohorts by first purchase, share purchasing in month +k, revenue retention.

A customer's cohort is the calendar month of their first purchase (in the project's time
zone). Cell (cohort, k) counts the cohort's customers with a purchase in month cohort+k
and their purchase revenue; `share` is customers / cohort size and `revenue_retention`
is revenue / the cohort's month-0 revenue. Purchases are gross (refunds are not netted).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    SnapshotInfo,
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
from contacts.models import TouchpointKind

DEFAULT_MONTHS = 12


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True, slots=True)
class CohortRetentionQuery:
    """The period bounds the cohorts' first-purchase months; `months` is the largest k shown."""

    filters: ReportFilters = field(default_factory=ReportFilters)
    as_of: dt.date | None = None
    months: int = DEFAULT_MONTHS

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


@served_from_snapshot()
def cohort_retention_report(query: CohortRetentionQuery) -> CohortRetentionResult:
    """Monthly first-purchase cohorts and their retention, in ONE statement.

    A customer's cohort month comes from ContactMetrics.first_purchase_at, the time of their
    first purchase, which the lifecycle engine writes with every evaluation (real time after a
    touchpoint write, and nightly), the way channel performance reads purchase counts. It
    holds for any `as_of`: a customer with a purchase up to `as_of` has a first purchase
    ever, and it is up to `as_of` too. So the statement is a GROUP BY of each contact's
    monthly purchases joined to its metrics row, with no window over each contact's months
    (a window keeps PostgreSQL serial; at 1M contacts / 20M touchpoints 4.2 s -> see
    BENCHMARKS.md). Months are truncated in the project's time zone by the backend's own
    SQL (`datetime_trunc_sql`), the same on both vendors as the ORM's TruncMonth.
    """
    query.validate()
    as_of = query.effective_as_of
    tzname = timezone.get_current_timezone_name() if settings.USE_TZ else None
    month, month_params = connection.ops.datetime_trunc_sql("month", "t.occurred_at", (), tzname)
    cohort, cohort_params = connection.ops.datetime_trunc_sql("month", "m.first_purchase_at", (), tzname)
    scope, scope_params = scope_clause("t.contact_id", contact_scope_sql(query.filters))
    cohort_bounds, bound_params = "", []
    if query.filters.period_start:  # the period bounds the cohort month: from the first of its month
        cohort_bounds += " AND m.first_purchase_at >= %s"
        bound_params.append(dt_param(day_start(query.filters.period_start.replace(day=1))))
    if query.filters.period_end:
        cohort_bounds += " AND m.first_purchase_at < %s"
        bound_params.append(dt_param(day_start(_next_month(query.filters.period_end))))
    sql = f"""
        WITH pm AS (
            SELECT t.contact_id, {month} AS mo, SUM(t.amount) AS revenue
            FROM contacts_touchpoint t
            WHERE t.kind = %s AND t.occurred_at < %s{scope}
            GROUP BY t.contact_id, {month}
        )
        SELECT {cohort} AS cohort, pm.mo, COUNT(*) AS customers, SUM(pm.revenue) AS revenue
        FROM pm JOIN analytics_contactmetrics m ON m.contact_id = pm.contact_id
        WHERE m.first_purchase_at IS NOT NULL{cohort_bounds}
        GROUP BY {cohort}, pm.mo
    """
    params = [
        *month_params,
        TouchpointKind.PURCHASE,
        dt_param(day_end(as_of)),
        *scope_params,
        *month_params,
        *cohort_params,
        *bound_params,
        *cohort_params,
    ]
    rows = []
    for cohort_value, month_value, customers, revenue in run_sql(sql, params):
        first, k = _month_of(cohort_value), _month_of(month_value) - _month_of(cohort_value)
        if 0 <= k <= query.months:
            rows.append((first, k, customers, revenue))
    return _format(rows, as_of=as_of, months=query.months)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month_of(value: dt.datetime | dt.date | str) -> int:
    """The month index of a truncated month (a datetime on PostgreSQL, 'YYYY-MM-01 …' text on SQLite)."""
    if isinstance(value, str):
        return int(value[:4]) * 12 + int(value[5:7]) - 1
    return value.year * 12 + value.month - 1


def _format(rows: list[tuple[Any, ...]], *, as_of: dt.date, months: int) -> CohortRetentionResult:
    by_cohort: dict[int, dict[int, tuple[int, Decimal]]] = {}
    for cohort, k, customers, revenue in rows:
        by_cohort.setdefault(int(cohort), {})[int(k)] = (int(customers), as_money(revenue))
    last_month = month_index(as_of)
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
                )
            )
        cohorts.append(Cohort(month=month_label(cohort), size=size, revenue=revenue0, cells=row))
    return CohortRetentionResult(as_of=as_of, months=months, cohorts=cohorts)
