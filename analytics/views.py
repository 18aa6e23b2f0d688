"""The marketing overview: KPI cards, then charts loaded one by one, each with its data table and a CSV download.

Each chart is a `ChartSpec`: a function that runs an `analytics.reports` module for the
overview's filters and returns a `ChartData` (a plain table plus the series the
JavaScript draws). The same table feeds the accessible <table>, the CSV download and the
chart, so the three always agree. A report module that is not installed yet shows an
"not available yet" note — never invented numbers.

The page (`overview_view`) renders the filters, a placeholder for the KPI cards (or the
cards themselves when they are already cached) and one placeholder per chart; it never runs
a KPI or report query. static/js/charts.js then fetches the cards from `overview_kpis_view`
and each chart's box from `overview_chart_view`. Cards and charts are cached apart (cards
per filters, their period-independent part per contact filters, each chart per chart and
filters), so one slow or failing query never holds up or breaks the page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from analytics.kpis import (
    KPI_LABELS,
    PERIODS,
    OverviewQuery,
    kpi_base,
    kpi_overview,
    kpi_stage_snapshot_exists,
    overview_query_from_params,
    report_filters,
)
from analytics.reports.base import contact_scope_queryset, report_snapshots_bypassed, report_snapshots_served
from campaigns.models import Campaign, Segment
from contacts.forms import owner_choices_queryset
from contacts.models import Channel
from lifecycle_crm.csv_export import SafeCsvWriter
from lifecycle_crm.web_access import MARKETING, roles_required
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
    try:
        return importlib.import_module(f"analytics.reports.{module}")
    except ModuleNotFoundError:
        return None


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


# The overview's layout: charts in page order, each row one or two charts wide.
CHART_ROWS: list[list[str]] = [
    ["stage_counts"],
    ["funnel", "clv"],
    ["stage_flow"],
    ["cohorts"],
    ["channels"],
    ["campaigns"],
]

# Sent by static/js/charts.js when it fetches a chart: answer with the bare fragment, not a whole page.
FRAGMENT_HEADER = "X-CRM-Fragment"

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


def _filter_context(request: HttpRequest, query: OverviewQuery, errors: dict) -> dict[str, Any]:
    return {
        "query": query,
        "filter_errors": errors,
        "periods": [(k, f"Last {v} days") for k, v in PERIODS.items()],
        "channels": Channel.choices,
        "campaigns": Campaign.objects.only("id", "name"),
        "owners": owner_choices_queryset(),
        "segments": Segment.objects.only("id", "name"),
        "filter_query": request.GET.urlencode(),
    }


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


def _shared_params(request: HttpRequest) -> str:
    """The filters of the URL without `refresh`, for links that should not recompute (CSV, shared views)."""
    params = request.GET.copy()
    params.pop("refresh", None)
    return params.urlencode()


def _overview_query(request: HttpRequest) -> tuple[OverviewQuery, dict[str, str]]:
    """The query of the URL and its errors; a segment that cannot be used is an error and is dropped.

    Checking the segment builds the contact scope (it reads the segment row) without running
    it, so the page can explain a bad segment without running a KPI query.
    """
    query, errors = overview_query_from_params(request.GET)
    try:
        contact_scope_queryset(report_filters(query))
    except ValidationError as exc:
        errors["segment"] = "; ".join(exc.messages)
        query = replace(query, segment_id=None)
    return query, errors


def _kpi_params(request: HttpRequest, query: OverviewQuery) -> str:
    """The URL parameters of the KPI fragment: the page's (with `refresh`), without a segment the page dropped."""
    params = request.GET.copy()
    if query.segment_id is None:
        params.pop("segment", None)
    return params.urlencode()


@roles_required(MARKETING)
@require_GET
def overview_view(request: HttpRequest) -> HttpResponse:
    """Filters, the KPI cards if they are cached (else a placeholder charts.js fills), and one placeholder per chart.

    The page itself never runs a KPI or report query, so it is served in the same few
    milliseconds cold or warm at any data size: cached cards (the default periods are kept
    warm by `overview_warm`) are embedded, so a warm view shows them at once; otherwise a
    placeholder of the same size is fetched from `overview_kpis_view`, and each chart from
    `overview_chart_view`. Without JavaScript the placeholders link to those views' pages.
    """
    query, errors = _overview_query(request)
    refresh = request.GET.get("refresh") == "1"
    cached = None if refresh else overview_kpis_cached(query=query)
    overview, computed_at = cached if cached is not None else (None, None)
    chart_query = request.GET.urlencode()  # keeps refresh=1, so a refreshed page refreshes its charts too
    context = _filter_context(request, query, errors) | {
        "overview": overview,
        "computed_at": computed_at,
        "kpi_labels": list(KPI_LABELS.values()),
        "stages": Stage.objects.filter(is_active=True).only("slug", "name", "colour") if overview is None else [],
        "stage_snapshot": overview is None and kpi_stage_snapshot_exists(query=query),
        "kpi_query": _kpi_params(request, query),
        "chart_rows": [[CHARTS_BY_KEY[key] for key in row] for row in CHART_ROWS],
        "filter_query": _shared_params(request),
        "chart_query": chart_query,
    }
    return render(request, "analytics/overview.html", context)


@roles_required(MARKETING)
@require_GET
def overview_kpis_view(request: HttpRequest) -> HttpResponse:
    """The KPI cards and contacts per stage for the filters in the URL, computed (and cached) if needed.

    charts.js asks with the `X-CRM-Fragment` header and gets the bare block to put in the
    placeholder; a browser following the no-JavaScript link gets a whole page with the same
    block. An unexpected error is logged and answered with a message in the block (500),
    nothing is cached, so "Try again" recomputes.
    """
    query, errors = _overview_query(request)
    refresh = request.GET.get("refresh") == "1"
    failed = False
    try:
        overview, computed_at = overview_kpis_compute(query=query, user=request.user, refresh=refresh)
    except Exception:
        logger.exception("KPI cards failed")
        overview, computed_at, failed = None, None, True
    context = {
        "overview": overview,
        "computed_at": computed_at,
        "failed": failed,
        "failed_text": KPIS_FAILED_TEXT,
        "query": query,
        "filter_errors": errors,
        "filter_query": _shared_params(request),
        "kpi_query": _kpi_params(request, query),
    }
    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    template = "partials/overview_kpis.html" if fragment else "analytics/kpis_page.html"
    response = render(request, template, context, status=500 if failed else 200)
    patch_vary_headers(response, [FRAGMENT_HEADER])
    return response


@roles_required(MARKETING)
@require_GET
def overview_chart_view(request: HttpRequest, key: str) -> HttpResponse:
    """One chart of the overview for the filters in the URL: its box (table, caption, CSV link, series JSON).

    charts.js asks with the `X-CRM-Fragment` header and gets the bare box to insert; a
    browser following the no-JavaScript link gets a whole page with the same box.
    """
    spec = CHARTS_BY_KEY.get(key)
    if spec is None:
        raise Http404("No such chart.")
    query, errors = overview_query_from_params(request.GET)
    refresh = request.GET.get("refresh") == "1"
    chart = overview_chart_compute(spec=spec, query=query, refresh=refresh, live=refresh)
    context = {"chart": chart, "query": query, "filter_errors": errors, "filter_query": _shared_params(request)}
    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    template = "partials/chart.html" if fragment else "analytics/chart_page.html"
    response = render(request, template, context, status=500 if chart.failed else 200)
    patch_vary_headers(response, [FRAGMENT_HEADER])
    return response


@roles_required(MARKETING)
@require_GET
def chart_csv_view(request: HttpRequest, key: str) -> HttpResponse:
    """The numbers behind one chart as CSV, for the same filters as the page, from the chart's own cache entry."""
    spec = CHARTS_BY_KEY.get(key)
    if spec is None:
        raise Http404("No such chart.")
    query, _ = overview_query_from_params(request.GET)
    result = overview_chart_compute(spec=spec, query=query)
    if result.data is None:
        raise Http404(result.unavailable)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{key}-{query.start:%Y%m%d}-{query.end:%Y%m%d}.csv"'
    writer = SafeCsvWriter(response)  # campaign, stage and channel names are user text
    writer.writerow(result.data.columns)
    writer.writerows(result.data.rows)
    return response
