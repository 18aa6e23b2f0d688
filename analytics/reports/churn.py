"""Churn rate, repeat-purchase rate and average time between purchases, as of a date.

Over customers (contacts with at least one purchase up to `as_of`; purchases on one day
count once): a customer has churned when their last purchase is more than
`inactive_days` before `as_of`; a repeat customer has purchased on two or more days; the
average time between purchases is the total span first→last purchase of repeat
customers divided by their number of gaps (the mean gap between consecutive purchase
days). The period, when given, restricts to customers whose first purchase lies in it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.reports.base import (
    ReportFilters,
    contact_scope_queryset,
    date_diff_sql,
    date_param,
    day_end,
    ratio,
    run_sql,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable
from contacts.models import Touchpoint, TouchpointKind

DEFAULT_INACTIVE_DAYS = 180


@dataclass(frozen=True, slots=True)
class ChurnQuery:
    filters: ReportFilters = field(default_factory=ReportFilters)
    as_of: dt.date | None = None
    inactive_days: int | None = field(default=None, metadata={"minimum": 1, "maximum": 3660})

    def validate(self) -> None:
        self.filters.validate()
        if self.inactive_days is not None and not 1 <= self.inactive_days <= 3660:
            raise ValidationError({"inactive_days": "Between 1 and 3660 days."})

    @property
    def effective_as_of(self) -> dt.date:
        return self.as_of or timezone.localdate()

    @property
    def effective_inactive_days(self) -> int:
        return self.inactive_days or int(getattr(settings, "CRM_CHURN_INACTIVE_DAYS", DEFAULT_INACTIVE_DAYS))


@dataclass(frozen=True, slots=True)
class ChurnResult:
    as_of: dt.date
    inactive_days: int
    customers: int
    churned: int
    repeat_customers: int
    churn_rate: float | None
    repeat_purchase_rate: float | None
    avg_days_between_purchases: float | None
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@report_result()
def churn_report(query: ChurnQuery) -> ChurnResult:
    """Customer counts, churn and repeat rates and the mean purchase gap, in ONE statement."""
    query.validate()
    as_of = query.effective_as_of
    days = Touchpoint.objects.filter(kind=TouchpointKind.PURCHASE, occurred_at__lt=day_end(as_of))
    scope = contact_scope_queryset(query.filters)
    if scope is not None:
        days = days.filter(contact_id__in=scope)
    # One streaming GROUP BY contact over the purchases (index-only and presorted by contact
    # on PostgreSQL via touchpoint_money_idx): no (contact, day) DISTINCT to hash first.
    # The first and last purchase days are the days of the first and last purchase instants
    # (a local date never goes backwards as time goes forward), so MIN/MAX run on the raw
    # timestamp and only the two results are converted.
    per_contact = (
        days.values("contact_id")
        .annotate(
            n_days=Count(TruncDate("occurred_at"), distinct=True),
            first_day=TruncDate(Min("occurred_at")),
            last_day=TruncDate(Max("occurred_at")),
        )
        .order_by()
    )
    per_contact_sql, per_contact_params = per_contact.query.sql_with_params()
    cutoff = as_of - dt.timedelta(days=query.effective_inactive_days)
    params: list[Any] = [*per_contact_params, date_param(cutoff)]
    period = ""
    if query.filters.period_start:
        period += " AND first_day >= %s"
        params.append(date_param(query.filters.period_start))
    if query.filters.period_end:
        period += " AND first_day <= %s"
        params.append(date_param(query.filters.period_end))
    sql = f"""
        WITH c AS ({per_contact_sql})
        SELECT COUNT(*),
               COALESCE(SUM(CASE WHEN last_day < %s THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN n_days >= 2 THEN 1 ELSE 0 END), 0),
               SUM(CASE WHEN n_days >= 2 THEN {date_diff_sql("first_day", "last_day")} END),
               SUM(CASE WHEN n_days >= 2 THEN n_days - 1 END)
        FROM c WHERE 1 = 1{period}
    """
    customers, churned, repeaters, span, gaps = run_sql(sql, params)[0]
    return ChurnResult(
        as_of=as_of,
        inactive_days=query.effective_inactive_days,
        customers=int(customers),
        churned=int(churned),
        repeat_customers=int(repeaters),
        churn_rate=ratio(churned, customers),
        repeat_purchase_rate=ratio(repeaters, customers),
        avg_days_between_purchases=ratio(span or 0, gaps) if gaps else None,
    )
