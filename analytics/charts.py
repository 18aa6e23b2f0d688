"""The overview's charts and their caches: each chart a `ChartSpec` over one report, the warm-up.

Each chart is a `ChartSpec`: a function that runs an `analytics.reports` module for the
overview's filters and returns a `ChartData` (a plain table plus the series the JavaScript
draws). The same table feeds the accessible <table>, the CSV download and the chart, so the
three always agree. Kept out of analytics.views so the services and tasks (snapshot refresh,
warm-up) that run the charts never import a view module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.kpis import (
    OverviewQuery,
    kpi_base,
    kpi_overview,
    overview_query_from_params,
    report_filters,
)
from analytics.reports.base import report_snapshots_bypassed, report_snapshots_served
from analytics.reports.registry import REPORTS
from contacts.models import Channel
from stages.models import Stage

logger = logging.getLogger(__name__)


@dataclass
class ChartData:
    """What a chart shows: a table (columns + rows) and the series for the chart library."""

    columns: list[str]
    rows: list[list[Any]]
    series: dict[str, Any] = field(default_factory=dict)
    caption: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.rows


@dataclass
class ChartSpec:
    key: str
    title: str
    kind: str  # funnel | sankey | heatmap | bar | table
    module: str
    build: Callable[[Any, OverviewQuery], ChartData]
    empty_text: str = "No data for these filters yet."
    tall: bool = False


def _report(module: str) -> Any | None:
    return REPORTS.get(module)


# --- one builder per chart ------------------------------------------------------------------------


def _funnel(mod: Any, query: OverviewQuery) -> ChartData:
    # "Reached at all": journeys often skip stages (a first purchase straight after a visit),
    # so the strictly ordered variant would show empty later steps for real customers.
    result = mod.funnel_report(mod.FunnelQuery(filters=report_filters(query), ordered=False))
    rows = [
        [
            s.name,
            s.reached,
            _pct(s.step_conversion),
            _pct(s.cumulative_conversion),
            s.drop_off,
            "" if s.median_days_to_next is None else round(s.median_days_to_next, 1),
        ]
        for s in result.steps
    ]
    colours = dict(Stage.objects.values_list("slug", "colour"))
    return ChartData(
        columns=["Stage", "Reached", "Step conversion", "Cumulative conversion", "Drop-off", "Median days to next"],
        rows=rows if result.entered else [],
        series={"items": [{"name": s.name, "value": s.reached, "colour": colours.get(s.stage)} for s in result.steps]},
        caption="Contacts who entered the lifecycle in the period, and how many of them reached each stage since.",
    )


def _stage_flow(mod: Any, query: OverviewQuery) -> ChartData:
    result = mod.stage_flow_report(mod.StageFlowQuery(filters=report_filters(query)))
    names = dict(Stage.objects.values_list("slug", "name"))
    colours = dict(Stage.objects.values_list("slug", "colour"))
    rows = [
        [
            names.get(f.from_stage, f.from_stage) if f.from_stage else "New",
            names.get(f.to_stage, f.to_stage),
            f.transitions,
            f.contacts,
        ]
        for f in result.flows
    ]
    # A Sankey cannot draw cycles (at_risk → retention → at_risk), so the chart places
    # sources on the left and targets on the right as separate nodes; the table keeps the truth.
    nodes: dict[str, dict[str, Any]] = {}
    links = []
    for f in result.flows:
        src = (names.get(f.from_stage, f.from_stage) if f.from_stage else "New") + " "
        dst = names.get(f.to_stage, f.to_stage)
        nodes.setdefault(src, {"name": src, "colour": colours.get(f.from_stage or "", "#94a3b8")})
        nodes.setdefault(dst, {"name": dst, "colour": colours.get(f.to_stage, "#64748b")})
        links.append({"source": src, "target": dst, "value": f.transitions})
    return ChartData(
        columns=["From", "To", "Moves", "Contacts"],
        rows=rows,
        series={"nodes": list(nodes.values()), "links": links},
        caption=f"Stage moves from {result.period_start:%d %b %Y} to {result.period_end:%d %b %Y} "
        "(left: stage left, right: stage entered).",
    )


def _cohorts(mod: Any, query: OverviewQuery) -> ChartData:
    filters = report_filters(query)
    caption = "Share of each first-purchase cohort buying again k months later."
    if query.days < 180:
        # A month-by-month heatmap needs several cohorts: show the 12 months up to the period's end.
        filters = type(filters)(
            period_start=(filters.period_end.replace(day=1) - dt.timedelta(days=335)).replace(day=1),
            period_end=filters.period_end,
            channel=filters.channel,
            campaign_id=filters.campaign_id,
            owner_id=filters.owner_id,
            segment_id=filters.segment_id,
        )
        caption += " Cohorts of the 12 months up to the period's end (the period is shorter than 6 months)."
    result = mod.cohort_retention_report(mod.CohortRetentionQuery(filters=filters, months=12))
    months = result.months
    columns = ["Cohort", "Customers", *[f"M{k}" for k in range(months + 1)]]
    rows = []
    cells = []
    for y, cohort in enumerate(result.cohorts):
        shares = {c.k: c.share for c in cohort.cells}
        rows.append([cohort.month, cohort.size, *[_pct(shares.get(k)) for k in range(months + 1)]])
        for k in range(months + 1):
            if shares.get(k) is not None:
                cells.append([k, y, round(shares[k] * 100, 1)])
    return ChartData(
        columns=columns,
        rows=rows,
        series={"x": [f"M{k}" for k in range(months + 1)], "y": [c.month for c in result.cohorts], "cells": cells},
        caption=caption,
    )


def _clv(mod: Any, query: OverviewQuery) -> ChartData:
    filters = report_filters(query)
    result = mod.clv_distribution_report(mod.CLVDistributionQuery(filters=filters))
    rows = [[f"{b.lower:,.0f} to {b.upper:,.0f}", b.customers, b.total] for b in result.buckets]
    caption = f"{result.customers:,} customers by predicted CLV"
    if result.median is not None:
        caption += f" (median {result.median:,.0f}, mean {result.mean:,.0f})"
    top = _report("top_customers")
    top_rows = []
    if top is not None:
        best = top.top_customers_report(top.TopCustomersQuery(filters=filters, limit=10))
        top_rows = [
            {"id": c.contact_id, "name": c.name or c.email, "stage": c.stage, "clv": str(c.predicted_clv or "")}
            for c in best.customers
        ]
    return ChartData(
        columns=["Predicted CLV", "Customers", "Total CLV"],
        rows=rows if result.customers else [],
        series={"labels": [r[0] for r in rows], "values": [r[1] for r in rows], "top": top_rows},
        caption=caption + ".",
    )


def _campaigns(mod: Any, query: OverviewQuery) -> ChartData:
    result = mod.campaign_performance_report(mod.CampaignPerformanceQuery(filters=report_filters(query)))
    rows = [
        [c.name, c.reach, c.advanced, c.reached_objective, c.revenue, c.cost, c.cost_per_acquisition or "", _pct(c.roi)]
        for c in result.campaigns
    ]
    return ChartData(
        columns=[
            "Campaign",
            "Reached",
            "Advanced",
            "Reached objective",
            "Revenue",
            "Cost",
            "Cost per acquisition",
            "ROI",
        ],
        rows=rows,
        series={"labels": [r[0] for r in rows], "values": [_num(r[4]) for r in rows]},
        caption=f"Per campaign, from each contact's first touch in the period, within {result.window_days} days.",
    )


def _channels(mod: Any, query: OverviewQuery) -> ChartData:
    result = mod.channel_performance_report(mod.ChannelPerformanceQuery(filters=report_filters(query)))
    labels = dict(Channel.choices)
    rows = [
        [
            labels.get(c.channel, c.channel),
            c.contacts,
            c.customers,
            _pct(c.conversion_rate),
            c.revenue,
            "" if c.avg_clv is None else round(c.avg_clv, 2),
        ]
        for c in result.channels
    ]
    return ChartData(
        columns=["Channel", "New contacts", "Became customers", "Conversion", "Revenue", "Average predicted CLV"],
        rows=rows,
        series={"labels": [r[0] for r in rows], "values": [r[1] for r in rows], "customers": [r[2] for r in rows]},
        caption="Contacts acquired in the period, by acquisition channel, and what they became.",
    )


def _stage_counts(mod: Any, query: OverviewQuery) -> ChartData:
    result = mod.stage_counts_report(mod.StageCountsQuery(filters=report_filters(query)))
    columns = ["Date", *[serie.name for serie in result.series]]
    rows = [[day.isoformat(), *[serie.counts[i] for serie in result.series]] for i, day in enumerate(result.dates)]
    return ChartData(
        columns=columns,
        rows=rows,
        series={
            "dates": [d.isoformat() for d in result.dates],
            "lines": [{"name": s.name, "colour": s.colour, "values": s.counts} for s in result.series],
        },
        caption="Contacts per stage at the end of each day (the nightly snapshot).",
    )


def _pct(value: Any) -> str:
    return "" if value is None else f"{float(value) * 100:.1f}%"


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


CHARTS: list[ChartSpec] = [
    ChartSpec(
        "stage_counts",
        "Contacts per stage over time",
        "line",
        "stage_counts",
        _stage_counts,
        empty_text="No nightly snapshot in this period yet.",
    ),
    ChartSpec("funnel", "Funnel", "funnel", "funnel", _funnel),
    ChartSpec("stage_flow", "Stage flow", "sankey", "stage_flow", _stage_flow, tall=True),
    ChartSpec("cohorts", "Cohort retention", "heatmap", "cohort_retention", _cohorts, tall=True),
    ChartSpec("clv", "CLV distribution", "bar", "clv_distribution", _clv),
    ChartSpec("campaigns", "Campaigns", "table", "campaign_performance", _campaigns),
    ChartSpec("channels", "Channels", "bar", "channel_performance", _channels),
]


CHARTS_BY_KEY = {spec.key: spec for spec in CHARTS}


FAILED_TEXT = "This chart could not be computed just now; the other charts are not affected. Try again in a minute."


KPIS_FAILED_TEXT = "The key figures could not be computed just now; the charts are not affected. Try again in a minute."


@dataclass
class ChartResult:
    spec: ChartSpec
    data: ChartData | None
    unavailable: str = ""
    computed_at: dt.datetime | None = None
    failed: bool = False

    @property
    def chart_json(self) -> dict[str, Any]:
        """What charts.js draws: the kind and title with the series (empty when there is nothing to draw)."""
        if self.data is None or self.data.is_empty:
            return {}
        return {"kind": self.spec.kind, "title": self.spec.title, **self.data.series}


def chart_run(spec: ChartSpec, query: OverviewQuery) -> ChartResult:
    """Run one chart's report; a missing module or bad filter becomes a message, not a broken page."""
    mod = _report(spec.module)
    if mod is None:
        return ChartResult(spec, None, "This report is not available in this installation yet.")
    try:
        return ChartResult(spec, spec.build(mod, query))
    except ValidationError as exc:
        return ChartResult(spec, None, "; ".join(exc.messages))
    except (AttributeError, TypeError, KeyError):
        logger.exception("Chart %s could not read its report", spec.key)
        return ChartResult(spec, None, "This report's format is not supported by this page yet.")


def _filters_key(query: OverviewQuery) -> str:
    return f"{query.channel}|{query.campaign_id}|{query.owner_id}|{query.segment_id}"


def _cache_key(query: OverviewQuery, part: str) -> str:
    """Preset periods end "now", so the key names the period and today's date rather than the exact instant."""
    window = (
        f"{query.start:%Y%m%d}-{query.end:%Y%m%d}" if query.period == "custom" else f"{query.period}@{query.end:%Y%m%d}"
    )
    digest = hashlib.sha256(f"{window}|{_filters_key(query)}".encode()).hexdigest()[:24]
    return f"overview:v3:{part}:{digest}"


def _base_cache_key(query: OverviewQuery) -> str:
    """The key of the cards' period-independent part: the contact filters alone, no period."""
    digest = hashlib.sha256(_filters_key(query).encode()).hexdigest()[:24]
    return f"overview:v3:kpis-base:{digest}"


def _cache_seconds() -> int:
    return getattr(settings, "CRM_DASHBOARD_CACHE_SECONDS", 300)


def overview_kpis_cached(*, query: OverviewQuery) -> tuple[Any, dt.datetime] | None:
    """The KPI cards for the filters if they are in the cache, else None; never runs a query."""
    return cache.get(_cache_key(query, "kpis"))


def overview_kpis_compute(
    *, query: OverviewQuery, user: Any, refresh: bool = False, refresh_base: bool | None = None
) -> tuple[Any, dt.datetime]:
    """The KPI cards for the filters and when they were computed, cached for CRM_DASHBOARD_CACHE_SECONDS.

    Cached in two parts with the same lifetime: the whole cards per period and filters, and
    their period-independent part (stage counts now, customer-value averages: `kpi_base`) per
    contact filters alone, so a switch of period for the same filters runs only the period
    queries. The time returned is that of the older part. `?refresh=1` recomputes both
    (`refresh_base=False` keeps a cached base, for a warm that refreshes several periods).
    The charts are cached apart, one key per chart (`overview_chart_compute`).
    """
    refresh_base = refresh if refresh_base is None else refresh_base
    key = _cache_key(query, "kpis")
    cached = None if refresh else cache.get(key)
    if cached is not None:
        return cached
    base_key = _base_cache_key(query)
    base_entry = None if refresh_base else cache.get(base_key)
    if base_entry is None:
        base_entry = (kpi_base(query=query), timezone.now())
        cache.set(base_key, base_entry, _cache_seconds())
    base, base_at = base_entry
    result = (kpi_overview(query=query, user=user, base=base), base_at)
    cache.set(key, result, _cache_seconds())
    return result


def overview_chart_compute(
    *, spec: ChartSpec, query: OverviewQuery, refresh: bool = False, live: bool = False
) -> ChartResult:
    """One chart for the filters, cached on its own key (chart and filters) for CRM_DASHBOARD_CACHE_SECONDS.

    A chart's report scans millions of rows at scale (one to a few seconds, PERFORMANCE.md),
    so each chart is fetched by the page after it has rendered and cached apart: a slow or
    failing report delays or breaks only its own box. The cache holds the plain table and
    series (not the spec), and the CSV download reads the same entry, so the file always has
    the numbers the chart showed. An unexpected error is logged, shown in the chart's box and
    not cached, so the next request tries again. A chart answered from the nightly report
    snapshots says so by its time ("as of" the snapshot, not the request); `live` (a user's
    "refresh now") computes past the snapshots, `refresh` alone (the warm) only past the cache.
    """
    key = _cache_key(query, f"chart:{spec.key}")
    cached = None if refresh else cache.get(key)
    if cached is not None:
        data, unavailable, computed_at = cached
        return ChartResult(spec, data, unavailable, computed_at)
    try:
        with report_snapshots_served() as served, report_snapshots_bypassed() if live else nullcontext():
            result = chart_run(spec, query)
    except Exception:
        logger.exception("Chart %s failed", spec.key)
        return ChartResult(spec, None, FAILED_TEXT, timezone.now(), failed=True)
    result.computed_at = min(served) if served else timezone.now()
    cache.set(key, (result.data, result.unavailable, result.computed_at), _cache_seconds())
    return result


def overview_warm(*, periods: tuple[str, ...] = ("30d", "90d", "365d")) -> list[str]:
    """Recompute the unfiltered overview's KPI cards and each chart for the preset periods; returns the cache keys.

    Meant for a periodic task (every few minutes, under CRM_DASHBOARD_CACHE_SECONDS) so the
    views marketers open first are always served from the cache, whatever the data size.
    The cards (with their period-independent part, computed once) and every chart are warmed
    on their own keys, exactly those the page embeds and its fragments read: the keys are
    the base first, then per period the cards and each chart. It runs exactly the report
    queries the chart fragments run, so calling it inside
    `analytics.reports.base.report_snapshots_recording()` stores the dashboard's default
    queries as report snapshots.
    """
    keys = []
    for i, period in enumerate(periods):
        query, _ = overview_query_from_params({"period": period})
        # The period-independent part is the same for every period: computed once, with the first.
        overview_kpis_compute(query=query, user=None, refresh=True, refresh_base=i == 0)
        if i == 0:
            keys.append(_base_cache_key(query))
        keys.append(_cache_key(query, "kpis"))
        for spec in CHARTS:
            overview_chart_compute(spec=spec, query=query, refresh=True)
            keys.append(_cache_key(query, f"chart:{spec.key}"))
    return keys
