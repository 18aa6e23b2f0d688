"""The marketing overview: KPI cards, then charts loaded one by one, each with its data table and a CSV download.

The charts themselves (one builder per chart over the reports) are in analytics.charts; every
figure comes through the result layer (analytics.results: one cache, the nightly store, or a
live computation). The page (`overview_view`) renders the filters, a placeholder for the KPI
cards (or the cards themselves when they are already cached) and one placeholder per chart; it
never runs a KPI or report query. static/js/charts.js then fetches the cards from
`overview_kpis_view` and each chart's box from `overview_chart_view`, so one slow or failing
query never holds up or breaks the page.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from accounts.web_access import MARKETING, roles_required
from analytics.catalogue import metric as catalogue_metric
from analytics.charts import CHARTS_BY_KEY, ChartResult, ChartSpec, chart_run
from analytics.kpis import (
    KPI_METRICS,
    PERIODS,
    OverviewQuery,
    kpi_overview,
    kpi_stage_snapshot_exists,
    overview_query_from_params,
    report_filters,
)
from analytics.reports.base import contact_scope_queryset
from analytics.results import result_cached, result_peek, results_bypassed, results_served
from campaigns.models import Campaign, Segment
from contacts.forms import owner_choices_queryset
from contacts.models import Channel
from lifecycle_crm.csv_export import SafeCsvWriter
from lifecycle_crm.formats import format_date_short
from stages.models import Stage

logger = logging.getLogger(__name__)


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
        "date_example": format_date_short(timezone.localdate()),
    }


def overview_kpis_cached(*, query: OverviewQuery) -> tuple[Any, dt.datetime] | None:
    """The KPI cards for the filters if the result layer has them cached, else None; never runs a query."""
    return result_peek("kpis", query)


def overview_kpis_compute(*, query: OverviewQuery, user: Any, refresh: bool = False) -> tuple[Any, dt.datetime]:
    """The KPI cards for the filters and when they were computed, through the result layer's cache.

    Preset periods end "now", so the query is keyed with the period's days (whole local days): the
    same view asked twice in a day is one cache entry. `refresh` computes past the cache.
    """
    return result_cached("kpis", query, lambda: kpi_overview(query=query, user=user), refresh=refresh)


def overview_chart_compute(*, spec: ChartSpec, query: OverviewQuery, refresh: bool = False) -> ChartResult:
    """One chart for the filters: its reports' results from the result layer, then the chart's table.

    A chart's report scans millions of rows at scale, so each chart is fetched by the page after it
    has rendered: a slow or failing report delays or breaks only its own box. An unexpected error is
    logged and shown in the chart's box (nothing is cached, so the next request tries again). A chart
    answered from stored results says so by its time ("as of" the oldest of them, not the request);
    `refresh` (a user's "refresh now") computes its reports live. The CSV download reads the same
    results, so the file has the numbers the chart showed.
    """
    try:
        with results_served() as served, results_bypassed() if refresh else nullcontext():
            result = chart_run(spec, query)
    except Exception:
        logger.exception("Chart %s failed", spec.key)
        return ChartResult(spec, None, FAILED_TEXT, timezone.now(), failed=True)
    result.computed_at = min(served) if served else timezone.now()
    return result


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
    milliseconds cold or warm at any data size: cards the result layer has cached are
    embedded, so a view seen recently shows them at once; otherwise a
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
        "kpi_metrics": [catalogue_metric(name) for name in KPI_METRICS.values()],
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
    chart = overview_chart_compute(spec=spec, query=query, refresh=refresh)
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
    writer.writerows(result.data.csv_rows())
    return response
