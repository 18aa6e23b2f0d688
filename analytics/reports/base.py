"""Shared parts of the reports: the common filters, the contact scope subquery, vendor SQL snippets.

Every report module follows the same steps [PH]: a typed query dataclass → `validate()`
→ one set-based SQL statement → a typed result with `as_dict()` for serializers and
templates. Raw SQL is used where the ORM cannot say it (window functions over
aggregates, medians without PERCENTILE_CONT); the few vendor differences (time
differences, month numbers) live here, and row sets with time-zone-aware date parts
are built by the ORM and embedded as CTEs so both vendors truncate dates the same way.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import hashlib
import json
import time
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from contacts.models import Channel, Contact

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
        from campaigns.models import CampaignMember
        from contacts.models import Touchpoint

        touched = Touchpoint.objects.filter(contact_id=OuterRef("pk"), campaign_id=filters.campaign_id)
        enrolled = CampaignMember.objects.filter(contact_id=OuterRef("pk"), campaign_id=filters.campaign_id)
        queryset = queryset.filter(Q(Exists(touched)) | Q(Exists(enrolled)))
    if filters.segment_id is not None:
        from contacts.filters import ContactFilterSet, filters_to_querydict

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


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dates and Decimals as JSON-ready values (Decimals as strings, like DRF)."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def run_sql(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Execute the report's single statement and fetch every row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# ------------------------------------------------------------------ snapshots
#
# Every `<name>_report(query)` entry point goes through `served_from_snapshot`: when the
# validated query matches a fresh ReportSnapshot (same report, same canonical query key,
# as of the day the query is about) the stored result is rebuilt and returned after one
# small indexed SELECT, instead of the report's heavy statement. The nightly refresh
# (analytics.services.report_snapshots_refresh) runs the dashboard's and the API's
# default queries in "record" mode, which computes them live and stores them.

SNAPSHOT_FORMAT = "1"  # part of every query key: bump it when a result's shape or meaning changes

_snapshot_mode: contextvars.ContextVar[str] = contextvars.ContextVar("report_snapshot_mode", default="lookup")
# When set (report_snapshots_served), the computed_at of every snapshot served is appended to it.
_snapshots_served: contextvars.ContextVar[list[dt.datetime] | None] = contextvars.ContextVar(
    "report_snapshots_served", default=None
)


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """Says that a result was served from a stored snapshot, and when that snapshot was computed."""

    served_from_snapshot: bool
    computed_at: dt.datetime
    as_of: dt.date


@contextlib.contextmanager
def report_snapshots_recording() -> Iterator[None]:
    """Inside this block every report call is computed live and stored as a snapshot (the refresh uses it)."""
    token = _snapshot_mode.set("record")
    try:
        yield
    finally:
        _snapshot_mode.reset(token)


@contextlib.contextmanager
def report_snapshots_bypassed() -> Iterator[None]:
    """Inside this block every report call is computed live, without looking up or storing snapshots."""
    token = _snapshot_mode.set("live")
    try:
        yield
    finally:
        _snapshot_mode.reset(token)


@contextlib.contextmanager
def report_snapshots_served() -> Iterator[list[dt.datetime]]:
    """Yields a list that collects when each snapshot served inside the block was computed (a chart says "as of")."""
    served: list[dt.datetime] = []
    token = _snapshots_served.set(served)
    try:
        yield served
    finally:
        _snapshots_served.reset(token)


def report_query_key(query: Any) -> tuple[str, dict[str, Any]]:
    """(SHA-256 hex of the query's canonical JSON, that JSON as a dict); equal queries give equal keys."""
    data = to_jsonable(query)
    canonical = json.dumps({"format": SNAPSHOT_FORMAT, "query": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest(), data


def report_snapshot_as_of(query: Any, *, closed_periods: bool = False) -> dt.date:
    """The day a query's answer is about, which a snapshot must be as of to serve it.

    Today, unless the query names its own end in the past: an explicit `as_of`, or (for
    reports over a closed period of history, `closed_periods=True`) the period's end.
    A past end keys a result that no longer changes with the passing days.
    """
    today = timezone.localdate()
    end = getattr(query, "as_of", None)
    if end is None and closed_periods:
        end = query.filters.period_end
    return end if end is not None and end < today else today


@functools.cache
def _field_hints(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, resolved type) of a dataclass's fields; cached, resolving hints costs more than rebuilding a row."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in fields(cls))


def _rebuild(hint: Any, value: Any) -> Any:
    """Rebuild a value of type `hint` from `to_jsonable` output (the inverse for the types results use)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if isinstance(value, str):
            for option in options:
                if option in (dt.date, dt.datetime, Decimal, float):
                    return _rebuild(option, value)
        if isinstance(value, dict):
            for option in options:
                if is_dataclass(option):
                    return _rebuild(option, value)
        return _rebuild(options[0], value) if len(options) == 1 else value
    if is_dataclass(hint) and isinstance(value, dict):
        return hint(**{name: _rebuild(kind, value[name]) for name, kind in _field_hints(hint) if name in value})
    if origin in (list, tuple):
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_rebuild(item, v) for v in value]
        return items if origin is list else tuple(items)
    if hint is dt.datetime and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if hint is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if hint in (Decimal, float) and isinstance(value, str):
        return Decimal(value)  # to_jsonable writes Decimals (only) as strings
    return value


def report_result_from_json(result_class: type, data: dict[str, Any]) -> Any:
    """The result dataclass rebuilt from a stored snapshot's JSON."""
    return _rebuild(result_class, data)


def served_from_snapshot(*, closed_periods: bool = False) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorate a `<name>_report(query)` entry point so it answers from a fresh snapshot when one exists.

    The name, signature and annotations of the entry point are kept (the API discovers
    reports by `<module>_report` and reads its return type). The query is validated first;
    a hit costs one small query on the unique (report, query_key) index and returns the
    stored result with `snapshot` set; a miss computes live (result `snapshot=None`).
    `closed_periods` says a past period end fixes the answer (see report_snapshot_as_of).
    """

    def decorate(compute: Callable[[Any], Any]) -> Callable[[Any], Any]:
        report = compute.__name__.removesuffix("_report")

        @functools.cache
        def result_class() -> type:
            return typing.get_type_hints(compute)["return"]

        @functools.wraps(compute)
        def entry(query: Any) -> Any:
            mode = _snapshot_mode.get()
            if mode == "live":
                return compute(query)
            query.validate()
            key, query_json = report_query_key(query)
            as_of = report_snapshot_as_of(query, closed_periods=closed_periods)
            if mode == "record":
                return _record(report, compute, query, key=key, query_json=query_json, as_of=as_of)
            from analytics.models import ReportSnapshot

            hit = list(
                ReportSnapshot.objects.filter(report=report, query_key=key, as_of=as_of).values_list(
                    "result", "computed_at", "as_of"
                )[:1]
            )
            if not hit:
                return compute(query)
            data, computed_at, snapshot_as_of = hit[0]
            served = _snapshots_served.get()
            if served is not None:
                served.append(computed_at)
            result = report_result_from_json(result_class(), data)
            info = SnapshotInfo(served_from_snapshot=True, computed_at=computed_at, as_of=snapshot_as_of)
            return replace(result, snapshot=info)

        entry.compute = compute  # type: ignore[attr-defined]  # the live computation, for benchmarks and tests
        entry.report_name = report  # type: ignore[attr-defined]
        return entry

    return decorate


def _record(report: str, compute: Callable[[Any], Any], query: Any, *, key: str, query_json: Any, as_of: dt.date):
    """Compute live and store (insert or replace) the snapshot for this report and query in one statement."""
    from analytics.models import ReportSnapshot

    started = time.perf_counter()
    result = compute(query)
    duration = dt.timedelta(seconds=time.perf_counter() - started)
    data = to_jsonable(replace(result, snapshot=None))
    json.dumps(data, allow_nan=False)  # NaN/Infinity cannot be stored as JSON: fail here, loudly
    ReportSnapshot.objects.bulk_create(
        [
            ReportSnapshot(
                report=report,
                query_key=key,
                query=query_json,
                result=data,
                as_of=as_of,
                computed_at=timezone.now(),
                duration=duration,
            )
        ],
        update_conflicts=True,
        unique_fields=["report", "query_key"],
        update_fields=["query", "result", "as_of", "computed_at", "duration"],
    )
    return result
