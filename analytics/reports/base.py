"""Shared parts of the reports: the common filters, the contact scope subquery, vendor SQL snippets.

Every report module follows the same steps [PH]: a typed query dataclass → `validate()`
→ one set-based SQL statement → a typed result with `as_dict()` for serializers and
templates. Raw SQL is used where the ORM cannot say it (window functions over
aggregates, medians without PERCENTILE_CONT); the few vendor differences (time
differences, month numbers) live here, and row sets with time-zone-aware date parts
are built by the ORM and embedded as CTEs so both vendors truncate dates the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import CampaignMember
from contacts.filters import ContactFilterSet, filters_to_querydict
from contacts.models import Channel, Contact, Touchpoint

MAX_PERIOD_DAYS = 366 * 20


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """Filters every report accepts: a period and the contact dimensions.

    `channel` is the contact's acquisition channel, `owner_id` its owner, `campaign_id`
    restricts to contacts the campaign touched or enrolled, `segment_id` applies a saved
    segment's filters. What the period bounds is said by each report.
    """

    period_start: dt.date | None = None
    period_end: dt.date | None = None
    channel: str | None = None
    campaign_id: int | None = None
    owner_id: int | None = None
    segment_id: int | None = None

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if self.period_start and self.period_end:
            if self.period_end < self.period_start:
                errors["period_end"] = "The period ends before it starts."
            elif (self.period_end - self.period_start).days > MAX_PERIOD_DAYS:
                errors["period_end"] = "The period is longer than 20 years."
        if self.channel is not None and self.channel not in Channel.values:
            errors["channel"] = f"{self.channel!r} is not a channel."
        for name in ("campaign_id", "owner_id", "segment_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                errors[name] = "Must be a positive integer id."
        if errors:
            raise ValidationError(errors)

    @property
    def has_contact_filters(self) -> bool:
        return any(v is not None for v in (self.channel, self.campaign_id, self.owner_id, self.segment_id))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ReportFilters:
        """Parse request-style parameters (`period_start`, `period_end`, `channel`, `campaign`, `owner`, `segment`)."""
        errors: dict[str, str] = {}

        def date_of(name: str) -> dt.date | None:
            value = params.get(name)
            if value in (None, ""):
                return None
            try:
                return dt.date.fromisoformat(str(value))
            except ValueError:
                errors[name] = "Use YYYY-MM-DD."
                return None

        def id_of(name: str) -> int | None:
            value = params.get(name, params.get(f"{name}_id"))
            if value in (None, ""):
                return None
            try:
                return int(value)
            except (TypeError, ValueError):
                errors[name] = "Must be an integer id."
                return None

        result = cls(
            period_start=date_of("period_start"),
            period_end=date_of("period_end"),
            channel=params.get("channel") or None,
            campaign_id=id_of("campaign"),
            owner_id=id_of("owner"),
            segment_id=id_of("segment"),
        )
        if errors:
            raise ValidationError(errors)
        result.validate()
        return result


def contact_scope_queryset(filters: ReportFilters) -> QuerySet[Contact] | None:
    """The contacts the filters select (ORM), or None when there are no contact filters.

    Built with the ORM (and the shared ContactFilterSet for segments) so the semantics
    match the contact list exactly. A segment filter reads the segment row while
    building (one small extra query).
    """
    if not filters.has_contact_filters:
        return None
    queryset: QuerySet[Contact] = Contact.objects.all()
    if filters.channel is not None:
        queryset = queryset.filter(acquisition_channel=filters.channel)
    if filters.owner_id is not None:
        queryset = queryset.filter(owner_id=filters.owner_id)
    if filters.campaign_id is not None:
        touched = Touchpoint.objects.filter(contact_id=OuterRef("pk"), campaign_id=filters.campaign_id)
        enrolled = CampaignMember.objects.filter(contact_id=OuterRef("pk"), campaign_id=filters.campaign_id)
        queryset = queryset.filter(Q(Exists(touched)) | Q(Exists(enrolled)))
    if filters.segment_id is not None:
        filterset = ContactFilterSet(filters_to_querydict({"segment": filters.segment_id}), queryset=queryset)
        if not filterset.is_valid():
            raise ValidationError({"segment": [str(m) for m in filterset.errors.get("segment", ["Invalid."])]})
        queryset = filterset.qs
    return queryset.order_by().values("id")


def contact_scope_sql(filters: ReportFilters) -> tuple[str, list[Any]] | None:
    """`SELECT id FROM contacts WHERE …` for the contact filters, or None; reports embed it as `IN (…)`."""
    queryset = contact_scope_queryset(filters)
    if queryset is None:
        return None
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def date_param(value: dt.date) -> Any:
    """A date as the backend compares it (ISO text on SQLite)."""
    return connection.ops.adapt_datefield_value(value)


def date_diff_sql(start: str, end: str) -> str:
    """SQL for whole days from date `start` to date `end` (date columns, not timestamps)."""
    if connection.vendor == "postgresql":
        return f"(({end}) - ({start}))"
    return f"CAST(julianday({end}) - julianday({start}) AS INTEGER)"


def floor_sql(expr: str) -> str:
    """floor() of a non-negative number: FLOOR on PostgreSQL (a CAST would round), CAST on SQLite."""
    if connection.vendor == "postgresql":
        return f"FLOOR({expr})"
    return f"CAST({expr} AS INTEGER)"


def scope_clause(column: str, scope: tuple[str, list[Any]] | None) -> tuple[str, list[Any]]:
    """`AND <column> IN (<scope>)` and its parameters, or nothing."""
    if scope is None:
        return "", []
    return f" AND {column} IN ({scope[0]})", list(scope[1])


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the project's time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def day_end(day: dt.date) -> dt.datetime:
    """The first instant after `day` (exclusive upper bound)."""
    return day_start(day + dt.timedelta(days=1))


def dt_param(value: dt.datetime) -> Any:
    """A datetime as the backend stores it (SQLite compares text in UTC without offset)."""
    return connection.ops.adapt_datetimefield_value(value)


def month_index(day: dt.date) -> int:
    """The month index (year * 12 + month - 1) of a day, as `month_index_sql` computes it in SQL."""
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    """The first day of the month with this index."""
    return dt.date(index // 12, index % 12 + 1, 1)


def days_between_sql(start: str, end: str) -> str:
    """SQL for the time from `start` to `end` in (fractional) days, per vendor."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({end}) - ({start})) / 86400.0)"
    return f"(julianday({end}) - julianday({start}))"


def median_sql(value: str, partition: str | None) -> tuple[str, str]:
    """Window columns for a portable median (PERCENTILE_CONT does not exist on SQLite).

    Returns (select_columns, predicate): select the columns in an inner query, then
    average `value` over the rows satisfying the predicate per partition.
    """
    over = f"PARTITION BY {partition} " if partition else ""
    columns = f"ROW_NUMBER() OVER ({over}ORDER BY {value}) AS med_rn, COUNT(*) OVER ({over.strip()}) AS med_n"
    return columns, "med_rn IN ((med_n + 1) / 2, (med_n + 2) / 2)"


def as_float(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)


def as_money(value: Any) -> Decimal:
    """A database sum as a 2-decimal Decimal (SQLite returns floats, PostgreSQL Decimals)."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(Decimal("0.01"))


def ratio(numerator: float | int | Decimal, denominator: float | int | Decimal) -> float | None:
    """numerator / denominator, None when the denominator is zero."""
    if not denominator:
        return None
    return float(numerator) / float(denominator)


def run_sql(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Execute the report's single statement and fetch every row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
