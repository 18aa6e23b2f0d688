"""Top customers by CLV: the most valuable contacts with their value, risk and segment."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError

from analytics.reports.base import (
    ReportFilters,
    contact_scope_queryset,
    day_end,
    day_start,
)
from analytics.results import SnapshotInfo, report_result, to_jsonable
from metrics.models import ContactMetrics

ORDERINGS = {"predicted": "predicted_clv", "historic": "historic_clv"}


@dataclass(frozen=True, slots=True)
class TopCustomersQuery:
    filters: ReportFilters = field(default_factory=ReportFilters)
    measure: Literal["predicted", "historic"] = "predicted"
    limit: int = 20

    def validate(self) -> None:
        self.filters.validate()
        if self.measure not in ORDERINGS:
            raise ValidationError({"measure": "predicted or historic."})
        if not 1 <= self.limit <= 500:
            raise ValidationError({"limit": "Between 1 and 500."})


@dataclass(frozen=True, slots=True)
class TopCustomer:
    contact_id: int
    email: str
    name: str
    stage: str
    predicted_clv: Decimal | None
    historic_clv: Decimal
    p_alive: float | None
    expected_purchases: float | None
    rfm_segment: str


@dataclass(frozen=True, slots=True)
class TopCustomersResult:
    measure: str
    customers: list[TopCustomer]
    snapshot: SnapshotInfo | None = None  # set when the result was served from a stored snapshot

    def as_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@report_result()
def top_customers_report(query: TopCustomersQuery) -> TopCustomersResult:
    """The `limit` most valuable valued customers, in ONE ORM query (metrics joined to contact and stage)."""
    query.validate()
    rows = ContactMetrics.objects.filter(predicted_clv__isnull=False)
    scope = contact_scope_queryset(query.filters)
    if scope is not None:
        rows = rows.filter(contact_id__in=scope)
    if query.filters.period_start:
        rows = rows.filter(first_purchase_at__gte=day_start(query.filters.period_start))
    if query.filters.period_end:
        rows = rows.filter(first_purchase_at__lt=day_end(query.filters.period_end))
    column = ORDERINGS[query.measure]
    rows = rows.select_related("contact__stage").order_by(f"-{column}", "contact_id")[: query.limit]
    return TopCustomersResult(
        measure=query.measure,
        customers=[
            TopCustomer(
                contact_id=m.contact_id,
                email=m.contact.email,
                name=m.contact.full_name,
                stage=m.contact.stage.slug,
                predicted_clv=m.predicted_clv,
                historic_clv=m.historic_clv,
                p_alive=m.p_alive,
                expected_purchases=m.expected_purchases,
                rfm_segment=m.rfm_segment,
            )
            for m in rows
        ],
    )
