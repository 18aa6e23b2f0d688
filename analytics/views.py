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

import csv
import logging
from dataclasses import replace
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from accounts.web_access import MARKETING, roles_required
from analytics.charts import (
    CHARTS_BY_KEY,
    KPIS_FAILED_TEXT,
    overview_chart_compute,
    overview_kpis_cached,
    overview_kpis_compute,
)
from analytics.kpis import (
    KPI_LABELS,
    PERIODS,
    OverviewQuery,
    kpi_stage_snapshot_exists,
    overview_query_from_params,
    report_filters,
)
from analytics.reports.base import contact_scope_queryset
from campaigns.models import Campaign, Segment
from contacts.forms import owner_choices_queryset
from contacts.models import Channel
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
    writer = csv.writer(response)
    writer.writerow(result.data.columns)
    writer.writerows(result.data.rows)
    return response
