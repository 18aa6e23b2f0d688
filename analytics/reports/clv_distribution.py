"""CLV distribution: a histogram of customers' CLV with count, total, mean and median.

Over contacts that the last customer-value recompute valued (ContactMetrics rows with a
predicted CLV). The measure is the predicted CLV (the default) or the historic CLV.
Buckets are `buckets` equal-width bins from 0 to the maximum; negative values (refunds
above purchases) fall into the first bin. The period, when given, restricts to
customers whose first purchase lies in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import connection

from analytics.reports.base import (
    ReportFilters,
    as_float,
    as_money,
    contact_scope_sql,
    day_end,
    day_start,
    dt_param,
    floor_sql,
    median_sql,
    run_sql,
    scope_clause,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable

MEASURES = {"predicted": "m.predicted_clv", "historic": "m.historic_clv"}


@dataclass(frozen=True, slots=True)
class CLVDistributionQuery:
    filters: ReportFilters = field(default_factory=ReportFilters)
    measure: Literal["predicted", "historic"] = "predicted"
    buckets: int = 10

    def validate(self) -> None:
        self.filters.validate()
        if self.measure not in MEASURES:
            raise ValidationError({"measure": "predicted or historic."})
        if not 1 <= self.buckets <= 100:
            raise ValidationError({"buckets": "Between 1 and 100."})


@dataclass(frozen=True, slots=True)
class CLVBucket:
    index: int
    lower: Decimal
    upper: Decimal
    customers: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class CLVDistributionResult:
    measure: str
    customers: int
    total: Decimal
    mean: float | None
    median: float | None
    maximum: Decimal
    buckets: list[CLVBucket]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@report_result()
def clv_distribution_report(query: CLVDistributionQuery) -> CLVDistributionResult:
    """Histogram and summary of CLV over valued customers, in ONE statement (see the median below)."""
    query.validate()
    column = MEASURES[query.measure]
    scope, params = scope_clause("m.contact_id", contact_scope_sql(query.filters))
    period = ""
    if query.filters.period_start:
        period += " AND m.first_purchase_at >= %s"
        params.append(dt_param(day_start(query.filters.period_start)))
    if query.filters.period_end:
        period += " AND m.first_purchase_at < %s"
        params.append(dt_param(day_end(query.filters.period_end)))
    n = query.buckets
    bucket = f"""CASE WHEN stats.mx <= 0 OR v.value <= 0 THEN 0
                      WHEN v.value >= stats.mx THEN {n - 1}
                      ELSE {floor_sql(f"v.value * {n} / stats.mx")} END"""
    if connection.vendor == "postgresql":
        # The median as the mean of the two middle values, picked by PERCENTILE_DISC at 0.5 (row
        # ceil(n/2)) and 0.5 + 1e-9 (row n/2 + 1 for even n; exact below 500M rows) in the same
        # pass as the count, sum and maximum: one sort of the values, where ROW_NUMBER and
        # COUNT over windows sorted and then re-read every row (1M contacts: 2.1 s -> see
        # BENCHMARKS.md). Exact numerics, as before.
        median = "(stats.pd[1] + stats.pd[2]) / 2"
        stats = """stats AS MATERIALIZED (
            SELECT COUNT(*) AS n, SUM(value) AS total, MAX(value) AS mx,
                   PERCENTILE_DISC(ARRAY[0.5, 0.500000001]) WITHIN GROUP (ORDER BY value) AS pd
            FROM v
        )"""
        med_cte, med_join = "", ""
    else:
        med_cols, med_pred = median_sql("value", None)
        median = "med.median"
        stats = "stats AS MATERIALIZED (SELECT COUNT(*) AS n, SUM(value) AS total, MAX(value) AS mx FROM v)"
        med_cte = f""",
        med AS MATERIALIZED (
            SELECT AVG(value) AS median FROM (SELECT value, {med_cols} FROM v) r WHERE {med_pred}
        )"""
        med_join = " CROSS JOIN med"
    sql = f"""
        WITH v AS (
            SELECT {column} AS value FROM analytics_contactmetrics m
            WHERE m.predicted_clv IS NOT NULL{scope}{period}
        ),
        -- One-row CTEs, materialised: inlined, a planner misled by stale statistics (right after
        -- the customer-value recompute wrote every row) rescanned the median per customer.
        {stats}{med_cte},
        binned AS (SELECT {bucket} AS b, v.value FROM v CROSS JOIN stats)
        SELECT binned.b, COUNT(*), SUM(binned.value), stats.n, stats.total, stats.mx, {median}
        FROM binned CROSS JOIN stats{med_join}
        GROUP BY binned.b, stats.n, stats.total, stats.mx, {median}
        ORDER BY binned.b
    """
    rows = run_sql(sql, params)
    if not rows:
        return CLVDistributionResult(query.measure, 0, Decimal("0.00"), None, None, Decimal("0.00"), [])
    _, _, _, count, total, maximum, median = rows[0]
    count, total, maximum = int(count), as_money(total), as_money(maximum)
    per_bucket = {int(b): (int(c), as_money(s)) for b, c, s, *_ in rows}
    width = maximum / n if maximum > 0 else Decimal("0.00")
    buckets = [
        CLVBucket(
            index=i,
            lower=(width * i).quantize(Decimal("0.01")),
            upper=(width * (i + 1)).quantize(Decimal("0.01")),
            customers=per_bucket.get(i, (0, Decimal("0.00")))[0],
            total=per_bucket.get(i, (0, Decimal("0.00")))[1],
        )
        for i in range(n)
    ]
    return CLVDistributionResult(
        measure=query.measure,
        customers=count,
        total=total,
        mean=float(total) / count if count else None,
        median=as_float(median),
        maximum=maximum,
        buckets=buckets,
    )
