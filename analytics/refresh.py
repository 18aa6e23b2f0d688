"""The nightly fill of the result layer: the preset results about the chain's as-of day, stored.

The last step of the nightly chain (registered with the engine in AnalyticsConfig.ready) and of
`recompute_lifecycle`, and `manage.py refresh_report_snapshots` by hand. It records results
through analytics.results (the one read path), so what it stores is exactly what the dashboard
and the API ask.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, fields
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.charts import CHARTS, chart_run
from analytics.kpis import overview_query_from_params
from analytics.models import ReportSnapshot
from analytics.reports.base import ReportFilters
from analytics.reports.registry import REPORTS
from analytics.results import preset_periods, results_recording, to_jsonable
from contacts.models import Channel


@dataclass(frozen=True, slots=True)
class ResultsRefreshResult:
    """What one refresh stored: how many results, how many of an earlier day it removed, and the time per report."""

    as_of: dt.date
    stored: int  # results written by this run (distinct report + query)
    deleted: int  # stored results about an earlier day, not rewritten by this run
    seconds: float
    seconds_by_report: dict[str, float]  # live computation time summed per report

    def as_dict(self) -> dict[str, Any]:
        return {**to_jsonable(self), "as_of": self.as_of.isoformat()}


def report_default_queries(*, channels: list[str | None], as_of: dt.date | None = None) -> list[tuple[Any, Any]]:
    """(entry point, query) of each report module's default query (what the API asks with no parameters),
    unfiltered and per acquisition channel, as of `as_of` for reports that take one; reports refusing a
    channel filter get the unfiltered one only."""
    calls = []
    for name, module in sorted(REPORTS.items()):
        run = getattr(module, f"{name}_report", None)
        query_class = next(
            (
                obj
                for name, obj in vars(module).items()
                if name.endswith("Query") and isinstance(obj, type) and obj.__module__ == module.__name__
            ),
            None,
        )
        if run is None or query_class is None:
            continue
        takes_as_of = "as_of" in {f.name for f in fields(query_class)}
        if as_of is not None and not takes_as_of:
            continue  # a past day's refresh stores only what can be asked about that day
        for channel in channels:
            options = {"as_of": as_of} if takes_as_of and as_of is not None else {}
            query = query_class(filters=ReportFilters(channel=channel), **options)
            try:
                query.validate()
            except ValidationError:
                continue
            calls.append((run, query))
    return calls


def results_refresh(*, as_of: dt.date | None = None, periods: tuple[str, ...] | None = None) -> ResultsRefreshResult:
    """Compute and store the preset results about `as_of` (today by default), then drop stored results of earlier days.

    The nightly chain's last step, with the chain's as-of date. Stored: every report's API default
    query (as of that day where the report takes one) and, for today, the overview's charts for the
    preset `periods` (CRM_REPORT_SNAPSHOT_PERIODS), each unfiltered and per acquisition channel. The
    overview's queries are recorded by running its own chart builders, so the stored keys are exactly
    the queries the page asks. A replay of a past day (`recompute_lifecycle --as-of D`) refreshes the
    results about D and leaves today's alone.
    """
    today = timezone.localdate()
    as_of = as_of or today
    periods = preset_periods() if periods is None else periods
    started_at = timezone.now()
    started = time.perf_counter()
    channels: list[str | None] = [None, *Channel.values]
    with results_recording():
        for run, query in report_default_queries(channels=channels, as_of=as_of if as_of < today else None):
            run(query)
        if as_of >= today:
            for period in periods:
                for channel in channels:
                    overview_query, errors = overview_query_from_params({"period": period, "channel": channel or ""})
                    if errors:
                        raise ValueError(f"Bad preset period {period!r}: {errors}")
                    for spec in CHARTS:
                        chart_run(spec, overview_query)
    deleted = 0
    if as_of >= today:
        deleted, _ = ReportSnapshot.objects.filter(as_of__lt=today, computed_at__lt=started_at).delete()
    seconds_by_report: dict[str, float] = {}
    stored = 0
    for report, duration in ReportSnapshot.objects.filter(computed_at__gte=started_at).values_list(
        "report", "duration"
    ):
        stored += 1
        seconds_by_report[report] = round(seconds_by_report.get(report, 0.0) + duration.total_seconds(), 3)
    return ResultsRefreshResult(
        as_of=as_of,
        stored=stored,
        deleted=deleted,
        seconds=round(time.perf_counter() - started, 3),
        seconds_by_report=dict(sorted(seconds_by_report.items())),
    )
