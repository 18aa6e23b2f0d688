"""The result layer: the one read path of every analytics figure (reports, charts, KPI cards, API).

A report's result for a (report, query, as-of day) is looked up in this order, and nowhere else:

1. the cache (Django's cache; Redis when CACHE_URL is set): one key family, `results:<format>:<report>:<query
   key>:<as-of>`;
2. the store (the `ReportSnapshot` table): the results the nightly chain computed for the preset views
   (`results_refresh`, the chain's last step), one indexed lookup on (report, query key);
3. a live computation by the report's own set-based statement.

A hit in 2 or 3 is put in 1. ONE invalidation rule: a result is about one as-of day (today, or the
query's own past end) and is kept in the cache for CRM_DASHBOARD_CACHE_SECONDS; the store's rows for a day
are replaced by the next chain run for that day, and rows about an earlier day are deleted by it. So
a figure is never older than the cache lifetime, except the preset views, which are as fresh as the
last chain run and say so ("as of" their computed time). `?refresh=1` ("refresh now") computes live
past the cache and the store and puts the fresh result in the cache.

The KPI cards go through the same cache (`result_cached`), without the store: they are computed
live (from the rollups on PostgreSQL) and change all day.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from analytics.models import ReportSnapshot

# Part of every key: bump it when a result's shape or meaning changes (stored and cached ones are then unread).
RESULTS_FORMAT = "3"

_mode: contextvars.ContextVar[str] = contextvars.ContextVar("results_mode", default="lookup")
# When set (results_served), the computed_at of every stored or cached result served is appended to it.
_served: contextvars.ContextVar[list[dt.datetime] | None] = contextvars.ContextVar("results_served", default=None)


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """Says that a result was not computed for this request: it was stored (or cached), and when it was computed."""

    served_from_snapshot: bool
    computed_at: dt.datetime
    as_of: dt.date


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


def cache_seconds() -> int:
    """How long a result stays in the cache (the one lifetime of the layer)."""
    return int(settings.CRM_DASHBOARD_CACHE_SECONDS)


def preset_periods() -> tuple[str, ...]:
    """The overview's preset periods the nightly chain stores (CRM_REPORT_SNAPSHOT_PERIODS: its one default)."""
    return tuple(settings.CRM_REPORT_SNAPSHOT_PERIODS)


@contextlib.contextmanager
def _set_mode(mode: str) -> Iterator[None]:
    token = _mode.set(mode)
    try:
        yield
    finally:
        _mode.reset(token)


def results_recording() -> contextlib.AbstractContextManager[None]:
    """Inside this block every report call is computed live and stored (the nightly refresh uses it)."""
    return _set_mode("record")


def results_bypassed() -> contextlib.AbstractContextManager[None]:
    """Inside this block every report call is computed live (past the cache and the store), then cached."""
    return _set_mode("live")


@contextlib.contextmanager
def results_served() -> Iterator[list[dt.datetime]]:
    """Yields a list that collects when each result served inside the block was computed (a chart says "as of")."""
    served: list[dt.datetime] = []
    token = _served.set(served)
    try:
        yield served
    finally:
        _served.reset(token)


def result_query_key(query: Any) -> tuple[str, dict[str, Any]]:
    """(SHA-256 hex of the query's canonical JSON, that JSON as a dict); equal queries give equal keys."""
    data = to_jsonable(query)
    canonical = json.dumps({"format": RESULTS_FORMAT, "query": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest(), data


def result_as_of(query: Any, *, closed_periods: bool = False) -> dt.date:
    """The day a query's answer is about: today, unless the query names its own end in the past.

    An explicit `as_of`, or (for reports over a closed period of history, `closed_periods=True`)
    the period's end. A past end keys a result that no longer changes with the passing days.
    """
    today = timezone.localdate()
    end = getattr(query, "as_of", None)
    if end is None and closed_periods:
        end = query.filters.period_end
    return end if end is not None and end < today else today


def _generation(report: str) -> int:
    return cache.get(f"results:{RESULTS_FORMAT}:generation:{report}", 0)


def _cache_key(report: str, key: str, as_of: dt.date) -> str:
    return f"results:{RESULTS_FORMAT}:{report}:g{_generation(report)}:{key}:{as_of.isoformat()}"


def results_invalidate(*, report: str) -> None:
    """Forget every cached and stored result of a report: the history it was computed from was restated.

    The cache keys carry a per-report generation, so bumping it makes every cached result of the report
    unread at once (a cache cannot delete by prefix); the stored rows are deleted outright.
    """
    name = f"results:{RESULTS_FORMAT}:generation:{report}"
    cache.set(name, _generation(report) + 1, None)
    ReportSnapshot.objects.filter(report=report).delete()


def _note_served(computed_at: dt.datetime) -> None:
    served = _served.get()
    if served is not None:
        served.append(computed_at)


def result_cached(
    name: str, query: Any, compute: Callable[[], Any], *, refresh: bool = False
) -> tuple[Any, dt.datetime]:
    """(value, computed_at) of a result that is cached but not stored (the KPI cards): the cache, else computed."""
    key, _ = result_query_key(query)
    cache_key = _cache_key(name, key, timezone.localdate())
    hit = None if refresh else cache.get(cache_key)
    if hit is not None:
        return hit
    entry = (compute(), timezone.now())
    cache.set(cache_key, entry, cache_seconds())
    return entry


def result_peek(name: str, query: Any) -> tuple[Any, dt.datetime] | None:
    """The cached (value, computed_at) of `result_cached`, or None; never computes."""
    key, _ = result_query_key(query)
    return cache.get(_cache_key(name, key, timezone.localdate()))


@functools.cache
def _field_hints(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in fields(cls))


def _rebuild(hint: Any, value: Any) -> Any:
    """Rebuild a value of type `hint` from `to_jsonable` output: the store's decoder (results are typed dataclasses)."""
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


def result_from_json(result_class: type, data: dict[str, Any]) -> Any:
    """The result dataclass rebuilt from a stored row's JSON."""
    return _rebuild(result_class, data)


def report_result(*, closed_periods: bool = False) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorate a `<name>_report(query)` entry point so its result comes from the result layer.

    The name, signature and annotations are kept (the API discovers reports by `<module>_report` and
    reads its return type). The query is validated first; then the cache, the store (the result gets
    `snapshot` set), or the live computation (`snapshot=None`), see the module docstring.
    `closed_periods` says a past period end fixes the answer (see result_as_of).
    """

    def decorate(compute: Callable[[Any], Any]) -> Callable[[Any], Any]:
        report = compute.__name__.removesuffix("_report")

        @functools.cache
        def result_class() -> type:
            return typing.get_type_hints(compute)["return"]

        @functools.wraps(compute)
        def entry(query: Any) -> Any:
            query.validate()
            key, query_json = result_query_key(query)
            as_of = result_as_of(query, closed_periods=closed_periods)
            cache_key = _cache_key(report, key, as_of)
            mode = _mode.get()
            if mode == "record":
                result = _record(report, compute, query, key=key, query_json=query_json, as_of=as_of)
                cache.delete(cache_key)
                return result
            if mode == "lookup":
                cached = cache.get(cache_key)
                if cached is not None:  # (result, when it was computed)
                    _note_served(cached[1])
                    return cached[0]
                stored = _stored(report, key, as_of, result_class())
                if stored is not None:
                    _note_served(stored.snapshot.computed_at)
                    cache.set(cache_key, (stored, stored.snapshot.computed_at), cache_seconds())
                    return stored
            result = compute(query)
            computed_at = timezone.now()
            _note_served(computed_at)
            cache.set(cache_key, (result, computed_at), cache_seconds())
            return result

        entry.compute = compute  # type: ignore[attr-defined]  # the live computation, for benchmarks and tests
        entry.report_name = report  # type: ignore[attr-defined]
        return entry

    return decorate


def _stored(report: str, key: str, as_of: dt.date, result_class: type) -> Any | None:
    """The stored result for (report, query key) about `as_of`, or None: one lookup on the unique index."""
    hit = list(
        ReportSnapshot.objects.filter(report=report, query_key=key, as_of=as_of).values_list(
            "result", "computed_at", "as_of"
        )[:1]
    )
    if not hit:
        return None
    data, computed_at, stored_as_of = hit[0]
    info = SnapshotInfo(served_from_snapshot=True, computed_at=computed_at, as_of=stored_as_of)
    return replace(result_from_json(result_class, data), snapshot=info)


def _record(report: str, compute: Callable[[Any], Any], query: Any, *, key: str, query_json: Any, as_of: dt.date):
    """Compute live and store (insert or replace) the result for this report and query in one statement."""
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
