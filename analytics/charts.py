"""The overview's charts, without HTTP: one builder per chart over the reports, the table each shows.

Each chart is a `ChartSpec`: a function that runs an `analytics.reports` module for the
overview's filters and returns a `ChartData` (a plain table plus the series the JavaScript
draws). The same table feeds the accessible <table>, the CSV download and the chart, so the
three always agree. Every column names its metric in the catalogue (label, definition, format).
The nightly result refresh runs these builders to store exactly the queries the page asks,
so this module must not import the views.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.catalogue import Metric, Unit
from analytics.catalogue import metric as catalogue_metric
from analytics.kpis import OverviewQuery, report_filters
from analytics.reports.registry import REPORTS
from contacts.models import Channel
from lifecycle_crm.formats import format_date, format_money, format_number
from stages.models import Stage


@dataclass(frozen=True)
class Column:
    """One column of a chart's table and CSV: the catalogue metric it shows, and a label when not the metric's own."""

    metric: str
    label: str = ""

    @property
    def entry(self) -> Metric:
        return catalogue_metric(self.metric)

    @property
    def title(self) -> str:
        return self.label or self.entry.label


@dataclass
class ChartData:
    """What a chart shows: a table (columns + raw rows) and the series for the chart library.

    Rows hold raw values (numbers, Decimals, dates): the page formats them by each column's
    unit from the metric catalogue (`display_rows`), the CSV writes them as they are.
    `partial` holds the (row, column) cells about a month that is not over yet.
    """

    columns: list[Column]
    rows: list[list[Any]]
    series: dict[str, Any] = field(default_factory=dict)
    caption: str = ""
    partial: set[tuple[int, int]] = field(default_factory=set)

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def headers(self) -> list[Column]:
        return self.columns

    @property
    def display_rows(self) -> list[list[tuple[str, bool]]]:
        """Each cell as (text in its unit's format, whether it is partial)."""
        return [
            [
                (value if column.entry.unit == Unit.LABEL else column.entry.format(value), (i, j) in self.partial)
                for j, (column, value) in enumerate(zip(self.columns, row, strict=True))
            ]
            for i, row in enumerate(self.rows)
        ]

    def csv_rows(self) -> list[list[Any]]:
        """Header (labels) then raw values; a partial cell is written with " (partial)" after its value."""
        body = [
            [f"{value} (partial)" if (i, j) in self.partial else value for j, value in enumerate(row)]
            for i, row in enumerate(self.rows)
        ]
        return [[column.title for column in self.columns], *body]


@dataclass
class ChartSpec:
    key: str
    title: str
    kind: str  # funnel | sankey | heatmap | bar | table
    module: str
    build: Callable[[Any, OverviewQuery], ChartData]
    empty_text: str = "No data for these filters yet."
    tall: bool = False


def _report(module: str) -> Any:
    return REPORTS[module]


# --- one builder per chart ------------------------------------------------------------------------


def _funnel(mod: Any, query: OverviewQuery) -> ChartData:
    # "Reached at all" (this stage or a later one): journeys often skip stages (a first purchase straight
    # after a visit), so the strictly ordered variant would show empty later steps for real customers.
    result = mod.funnel_report(mod.FunnelQuery(filters=report_filters(query), ordered=False))
    rows = [
        [s.name, s.reached, s.step_conversion, s.cumulative_conversion, s.drop_off, s.median_days_to_next]
        for s in result.steps
    ]
    colours = dict(Stage.objects.values_list("slug", "colour"))
    return ChartData(
        columns=[
            Column("stage.name"),
            Column("funnel.reached"),
            Column("funnel.step_conversion"),
            Column("funnel.cumulative_conversion"),
            Column("funnel.drop_off"),
            Column("funnel.median_days_to_next"),
        ],
        rows=rows if result.entered else [],
        series={"items": [{"name": s.name, "value": s.reached, "colour": colours.get(s.stage)} for s in result.steps]},
        caption="Contacts who entered the lifecycle in the period, and how many of them reached each stage "
        "(or a later one) since.",
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
        nodes.setdefault(src, {"name": src, "colour": colours.get(f.from_stage or "", "#767f91")})
        nodes.setdefault(dst, {"name": dst, "colour": colours.get(f.to_stage, "#64748b")})
        links.append({"source": src, "target": dst, "value": f.transitions})
    return ChartData(
        columns=[Column("flow.from_stage"), Column("flow.to_stage"), Column("flow.moves"), Column("flow.contacts")],
        rows=rows,
        series={"nodes": list(nodes.values()), "links": links},
        caption=f"Stage moves from {format_date(result.period_start)} to {format_date(result.period_end)} "
        "(left: stage left, right: stage entered).",
    )


def _cohorts(mod: Any, query: OverviewQuery) -> ChartData:
    filters = report_filters(query)
    caption = "Share of each first-purchase cohort buying again k months later."
    if query.days < 180:
        # A month-by-month heatmap needs several cohorts: show the 12 months up to the period's end.
        filters = replace(
            filters, period_start=(filters.period_end.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
        )
        caption += " Cohorts of the 12 months up to the period's end (the period is shorter than 6 months)."
    as_of = min(filters.period_end, timezone.localdate()) if filters.period_end else None
    result = mod.cohort_retention_report(mod.CohortRetentionQuery(filters=filters, months=12, as_of=as_of))
    months = result.months
    columns = [
        Column("cohort.month"),
        Column("cohort.size"),
        *[Column("cohort.share", f"M{k}") for k in range(months + 1)],
    ]
    rows = []
    cells = []
    partial: set[tuple[int, int]] = set()
    for y, cohort in enumerate(result.cohorts):
        by_k = {c.k: c for c in cohort.cells}
        rows.append([cohort.month, cohort.size, *[by_k[k].share if k in by_k else None for k in range(months + 1)]])
        for k, cell in by_k.items():
            if cell.partial:
                partial.add((y, 2 + k))
            if cell.share is not None:
                cells.append([k, y, round(cell.share * 100, 1), cell.partial])
    if partial:
        caption += " Italic cells (partial) are about the month not over yet: their share can still grow."
    return ChartData(
        columns=columns,
        rows=rows,
        series={"x": [f"M{k}" for k in range(months + 1)], "y": [c.month for c in result.cohorts], "cells": cells},
        caption=caption,
        partial=partial,
    )


def _clv(mod: Any, query: OverviewQuery) -> ChartData:
    # The distribution of customer value now, over the same customers as the Average predicted CLV card
    # (the contact filters apply; the period does not: CLV describes the customers as they are now).
    filters = replace(report_filters(query), period_start=None, period_end=None)
    result = mod.clv_distribution_report(mod.CLVDistributionQuery(filters=filters))
    rows = [[f"{format_number(b.lower)} to {format_number(b.upper)}", b.customers, b.total] for b in result.buckets]
    caption = f"{format_number(result.customers)} customers by predicted CLV, as of the last recompute"
    if result.median is not None:
        caption += f" (median {format_money(result.median)}, mean {format_money(result.mean)})"
    top = _report("top_customers")
    stage_names = dict(Stage.objects.values_list("slug", "name"))  # people read stage names, not slugs
    best = top.top_customers_report(top.TopCustomersQuery(filters=filters, limit=10))
    top_rows = [
        {
            "id": c.contact_id,
            "name": c.name or c.email,
            "stage": stage_names.get(c.stage, c.stage),
            "clv": format_money(c.predicted_clv),
        }
        for c in best.customers
    ]
    return ChartData(
        columns=[Column("clv.bucket"), Column("clv.customers"), Column("clv.total")],
        rows=rows if result.customers else [],
        series={"labels": [r[0] for r in rows], "values": [r[1] for r in rows], "top": top_rows},
        caption=caption + "; not bound by the period.",
    )


def _campaigns(mod: Any, query: OverviewQuery) -> ChartData:
    # Each campaign over its own life (start to end plus the attribution window), not the overview's period:
    # a campaign's whole cost is set against everything it could have earned.
    filters = replace(report_filters(query), period_start=None, period_end=None)
    result = mod.campaign_performance_report(mod.CampaignPerformanceQuery(filters=filters))
    rows = [
        [
            c.name,
            f"{format_date(c.life_start)} to {format_date(c.life_end)}",
            c.reach,
            c.advanced,
            c.reached_objective,
            c.revenue,
            c.cost,
            c.cost_per_acquisition,
            c.roi,
        ]
        for c in result.campaigns
    ]
    return ChartData(
        columns=[
            Column("campaign.name"),
            Column("campaign.life", "Counted over"),
            Column("campaign.reach"),
            Column("campaign.advanced"),
            Column("campaign.reached_objective"),
            Column("campaign.revenue"),
            Column("campaign.cost"),
            Column("campaign.cpa"),
            Column("campaign.roi"),
        ],
        rows=rows,
        series={"labels": [r[0] for r in rows], "values": [float(r[5]) for r in rows]},
        caption=f"Per campaign over its own life: touches from its start to its end, and what followed each "
        f"contact's first touch within the attribution window of {result.window_days} days. Not bound by the period.",
    )


def _channels(mod: Any, query: OverviewQuery) -> ChartData:
    result = mod.channel_performance_report(mod.ChannelPerformanceQuery(filters=report_filters(query)))
    labels = dict(Channel.choices)
    rows = [
        [labels.get(c.channel, c.channel), c.contacts, c.customers, c.conversion_rate, c.revenue, c.avg_clv]
        for c in result.channels
    ]
    return ChartData(
        columns=[
            Column("channel.name"),
            Column("channel.contacts"),
            Column("channel.customers"),
            Column("channel.conversion"),
            Column("channel.revenue"),
            Column("channel.avg_clv"),
        ],
        rows=rows,
        series={"labels": [r[0] for r in rows], "values": [r[1] for r in rows], "customers": [r[2] for r in rows]},
        caption="Contacts acquired in the period, by acquisition channel, and what they became.",
    )


def _stage_counts(mod: Any, query: OverviewQuery) -> ChartData:
    result = mod.stage_counts_report(mod.StageCountsQuery(filters=report_filters(query)))
    columns = [Column("stage_counts.date"), *[Column("stage_counts.contacts", serie.name) for serie in result.series]]
    rows = [[day, *[serie.counts[i] for serie in result.series]] for i, day in enumerate(result.dates)]
    return ChartData(
        columns=columns,
        rows=rows,
        series={
            "dates": [d.isoformat() for d in result.dates],
            "lines": [{"name": s.name, "colour": s.colour, "values": s.counts} for s in result.series],
        },
        caption="Contacts per stage at the end of each day (the nightly snapshot)." + restated_note(result),
    )


def restated_note(result: Any) -> str:
    """Issue 17: stored days that later history contradicted were restated; the chart says which."""
    restated = [(day if isinstance(day, str) else day.isoformat()) for day, _when in result.restated or []]
    if not restated:
        return ""
    shown = ", ".join(restated[:5]) + (f" and {len(restated) - 5} more" if len(restated) > 5 else "")
    return f" Restated after later history arrived: {shown}."


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
    ChartSpec("campaigns", "Campaign performance", "table", "campaign_performance", _campaigns),
    ChartSpec("channels", "Channels", "bar", "channel_performance", _channels),
]
CHARTS_BY_KEY = {spec.key: spec for spec in CHARTS}


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
    """Run one chart's report; a filter the report refuses becomes a message in the chart's box."""
    try:
        return ChartResult(spec, spec.build(_report(spec.module), query))
    except ValidationError as exc:
        return ChartResult(spec, None, "; ".join(exc.messages))
