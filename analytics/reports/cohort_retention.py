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

from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    SnapshotInfo,
    as_money,
    contact_scope_queryset,
    day_end,
    ratio,
    run_sql,
    served_from_snapshot,
    to_jsonable,
)
from contacts.models import Touchpoint, TouchpointKind

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

    The month comes from the ORM (time-zone-correct on both vendors) as a CTE; the cohort
    assignment and the (cohort, month) aggregation are raw SQL over it.
    """
    query.validate()
    as_of = query.effective_as_of
    purchases = Touchpoint.objects.filter(kind=TouchpointKind.PURCHASE, occurred_at__lt=day_end(as_of))
    scope = contact_scope_queryset(query.filters)
    if scope is not None:
        purchases = purchases.filter(contact_id__in=scope)
    # One row per (contact, calendar month) with that month's revenue. The month key is the
    # truncated timestamp (one cheap function per purchase instead of two numeric date parts);
    # it becomes a month index in Python over the few hundred (cohort, month) rows. On
    # PostgreSQL the purchases stream presorted by contact from touchpoint_money_idx, so the
    # grouping and the window below need no hash and no full sort (1M contacts / 20M touchpoints
    # on a busy 2-core machine: median 3.1 s instead of 4.1 s; the window stays single-threaded).
    purchases = purchases.annotate(mo=TruncMonth("occurred_at")).values("contact_id", "mo")
    purchases = purchases.annotate(revenue=Sum("amount")).order_by()
    base_sql, base_params = purchases.query.sql_with_params()
    # The cohort as a window over the contact's months rather than a join to a GROUP BY of
    # the same rows: `pm` is read once. The horizon (k <= months) and the period bound on
    # the cohort are applied in Python to the aggregated rows.
    sql = f"""
        WITH pm AS ({base_sql}),
        cm AS (SELECT mo, revenue, MIN(mo) OVER (PARTITION BY contact_id) AS cohort FROM pm)
        SELECT cohort, mo, COUNT(*) AS customers, SUM(revenue) AS revenue FROM cm
        GROUP BY cohort, mo
    """
    low = month_index(query.filters.period_start) if query.filters.period_start else None
    high = month_index(query.filters.period_end) if query.filters.period_end else None
    rows = []
    for cohort_value, month_value, customers, revenue in run_sql(sql, list(base_params)):
        cohort, k = _month_of(cohort_value), _month_of(month_value) - _month_of(cohort_value)
        if k <= query.months and (low is None or cohort >= low) and (high is None or cohort <= high):
            rows.append((cohort, k, customers, revenue))
    return _format(rows, as_of=as_of, months=query.months)


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
