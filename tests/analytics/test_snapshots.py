"""Report snapshots: a stored result is served only for the same report, query and day, equals the live
computation exactly, costs one small query, and the nightly refresh stores what the dashboard and API ask."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from analytics.kpis import overview_query_from_params, report_filters
from analytics.models import ReportSnapshot
from analytics.refresh import results_refresh
from analytics.reports.base import ReportFilters
from analytics.reports.campaign_performance import CampaignPerformanceQuery, campaign_performance_report
from analytics.reports.channel_performance import ChannelPerformanceQuery, channel_performance_report
from analytics.reports.churn import ChurnQuery, churn_report
from analytics.reports.clv_distribution import CLVDistributionQuery, clv_distribution_report
from analytics.reports.cohort_retention import CohortRetentionQuery, cohort_retention_report
from analytics.reports.funnel import FunnelQuery, funnel_report
from analytics.reports.stage_counts import StageCountsQuery, stage_counts_report
from analytics.reports.stage_flow import StageFlowQuery, stage_flow_report
from analytics.reports.top_customers import TopCustomersQuery, top_customers_report
from analytics.results import (
    result_from_json,
    result_query_key,
    results_bypassed,
    results_recording,
    to_jsonable,
)
from contacts.models import Channel
from metrics.models import ContactMetrics
from stages.models import Stage, StageSnapshot
from tests.analytics.test_reports import _world

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 1, 10)
NOW = dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC)
PAST = dt.date(2024, 12, 31)

# (entry point, query factory from filters): every report, with the options that matter.
REPORTS: list[tuple[Callable[[Any], Any], Callable[[ReportFilters], Any]]] = [
    (funnel_report, lambda f: FunnelQuery(filters=f)),
    (funnel_report, lambda f: FunnelQuery(filters=f, ordered=False, conversion_window_days=60)),
    (stage_flow_report, lambda f: StageFlowQuery(filters=f)),
    (cohort_retention_report, lambda f: CohortRetentionQuery(filters=f, months=12)),
    (churn_report, lambda f: ChurnQuery(filters=f)),
    (clv_distribution_report, lambda f: CLVDistributionQuery(filters=f)),
    (top_customers_report, lambda f: TopCustomersQuery(filters=f, limit=10)),
    (campaign_performance_report, lambda f: CampaignPerformanceQuery(filters=f)),
    (channel_performance_report, lambda f: ChannelPerformanceQuery(filters=f)),
    (stage_counts_report, lambda f: StageCountsQuery(filters=ReportFilters(period_end=f.period_end))),
]
IDS = [f"{run.__name__}-{i}" for i, (run, _) in enumerate(REPORTS)]


def _stage_snapshots() -> None:
    stage = Stage.objects.get(slug="purchase")
    StageSnapshot.objects.bulk_create(
        [StageSnapshot(date=TODAY - dt.timedelta(days=d), stage=stage, contacts=10 + d) for d in range(5)]
    )


def _without_snapshot(result: Any) -> dict[str, Any]:
    data = result.as_dict()
    data.pop("snapshot")
    return data


@pytest.mark.parametrize(("run", "make"), REPORTS, ids=IDS)
@pytest.mark.parametrize(
    "filters",
    [
        ReportFilters(period_start=dt.date(2024, 1, 1), period_end=PAST),
        ReportFilters(channel="email", period_start=dt.date(2023, 6, 1), period_end=TODAY),
    ],
    ids=["past-period", "email-to-today"],
)
@time_machine.travel(NOW, tick=False)
def test_a_report_served_from_its_snapshot_equals_the_live_computation(run, make, filters, django_assert_num_queries):
    _world(31, n=40)
    _stage_snapshots()
    query = make(filters)
    with results_recording():
        recorded = run(query)
    with results_bypassed():
        live = run(query)
    assert recorded == live and live.snapshot is None
    cache.clear()  # the live computation above went to the cache; what is tested here is the store

    with django_assert_num_queries(1):  # the lookup on (report, query_key), nothing else
        served = run(query)
    with django_assert_num_queries(0):  # then the cache answers
        assert run(query) == served

    assert served.snapshot is not None and served.snapshot.served_from_snapshot
    assert served.snapshot.computed_at == NOW
    assert dataclasses.replace(served, snapshot=None) == live
    assert _without_snapshot(served) == _without_snapshot(live)
    assert served.as_dict()["snapshot"]["served_from_snapshot"] is True


@time_machine.travel(NOW, tick=False)
def test_a_query_that_differs_from_every_snapshot_is_computed_live(django_assert_num_queries):
    world = _world(32, n=30)
    with results_recording():
        funnel_report(FunnelQuery(filters=ReportFilters(channel="email")))
    for query in [
        FunnelQuery(filters=ReportFilters(channel="referral")),
        FunnelQuery(filters=ReportFilters(channel="email"), ordered=False),
        FunnelQuery(filters=ReportFilters(channel="email", owner_id=world.owners[0].pk)),
        FunnelQuery(filters=ReportFilters(channel="email"), as_of=PAST),
    ]:
        with django_assert_num_queries(2):  # the lookup misses, then the report's one statement
            result = funnel_report(query)
        assert result.snapshot is None
        with results_bypassed():
            assert result == funnel_report(query)
    # The same query under another report name is not a hit either.
    assert churn_report(ChurnQuery(filters=ReportFilters(channel="email"))).snapshot is None


def test_a_snapshot_about_an_earlier_day_is_not_served():
    _world(33, n=20)
    query = ChurnQuery()
    with time_machine.travel(NOW, tick=False):
        with results_recording():
            churn_report(query)
        assert churn_report(query).snapshot is not None
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        result = churn_report(query)
        assert result.snapshot is None and result.as_of == TODAY + dt.timedelta(days=1)


def test_a_query_about_a_past_day_keeps_its_snapshot():
    _world(34, n=20)
    query = ChurnQuery(as_of=PAST)
    with time_machine.travel(NOW, tick=False), results_recording():
        churn_report(query)
    assert ReportSnapshot.objects.get().as_of == PAST
    with time_machine.travel(NOW + dt.timedelta(days=30), tick=False):
        assert churn_report(query).snapshot is not None


@time_machine.travel(NOW, tick=False)
def test_recording_again_replaces_the_snapshot():
    _world(35, n=20)
    query = TopCustomersQuery(limit=5)
    with results_recording():
        before = top_customers_report(query)
    last = before.customers[-1].contact_id
    ContactMetrics.objects.filter(contact_id=last).update(predicted_clv=Decimal("99999999.00"))
    assert top_customers_report(query).customers[0].contact_id != last  # the stored day's answer, by design
    with results_recording():
        top_customers_report(query)
    served = top_customers_report(query)
    assert ReportSnapshot.objects.count() == 1
    assert served.snapshot is not None and served.customers[0].contact_id == last


def test_query_keys_are_canonical():
    a, _ = result_query_key(FunnelQuery(filters=ReportFilters(channel="email"), ordered=True))
    b, data = result_query_key(FunnelQuery(ordered=True, filters=ReportFilters(channel="email")))
    c, _ = result_query_key(FunnelQuery(filters=ReportFilters(channel="email"), ordered=False))
    assert a == b != c and len(a) == 64
    assert data["filters"]["channel"] == "email"


def test_results_rebuild_exactly_from_json():
    from analytics.reports.clv_distribution import CLVBucket, CLVDistributionResult

    result = CLVDistributionResult(
        measure="predicted",
        customers=3,
        total=Decimal("10.50"),
        mean=1 / 3,
        median=None,
        maximum=Decimal("-0.01"),
        buckets=[CLVBucket(index=0, lower=Decimal("0.00"), upper=Decimal("1E+2"), customers=3, total=Decimal("7"))],
    )
    rebuilt = result_from_json(CLVDistributionResult, to_jsonable(result))
    assert rebuilt == result and rebuilt.buckets[0].upper.as_tuple() == Decimal("1E+2").as_tuple()


@time_machine.travel(NOW, tick=False)
def test_refresh_stores_the_dashboard_and_api_defaults_which_are_then_served(marketer):
    _world(36, n=30)
    _stage_snapshots()
    ReportSnapshot.objects.create(
        report="churn", query_key="old", query={}, result={}, as_of=TODAY - dt.timedelta(days=1),
        computed_at=NOW - dt.timedelta(days=1), duration=dt.timedelta(seconds=1),
    )  # fmt: skip

    result = results_refresh()

    assert result.deleted == 1 and result.as_of == TODAY
    assert result.stored == ReportSnapshot.objects.count()
    assert set(result.seconds_by_report) == {
        "funnel", "stage_flow", "cohort_retention", "churn", "stage_counts", "clv_distribution",
        "top_customers", "campaign_performance", "channel_performance",
    }  # fmt: skip
    # The dashboard's preset periods, unfiltered and per channel, as its charts ask them.
    for period, channel in [(p, c) for p in ("7d", "30d", "90d", "365d") for c in [None, *Channel.values]]:
        overview, _ = overview_query_from_params({"period": period, "channel": channel or ""})
        filters = report_filters(overview)
        assert funnel_report(FunnelQuery(filters=filters, ordered=False)).snapshot is not None
        assert channel_performance_report(ChannelPerformanceQuery(filters=filters)).snapshot is not None
        # The CLV box describes customers now: contact filters without the period.
        valued = replace(filters, period_start=None, period_end=None)
        assert top_customers_report(TopCustomersQuery(filters=valued, limit=10)).snapshot is not None
        # The API's default query of every report (no parameters), unfiltered and per channel.
        assert churn_report(ChurnQuery(filters=ReportFilters(channel=channel))).snapshot is not None
    assert stage_counts_report(StageCountsQuery()).snapshot is not None
    # Served through the REST endpoint, which says so.
    client = Client()
    client.force_login(marketer)
    body = client.get("/api/v1/analytics/cohort_retention/?channel=email").json()
    assert body["snapshot"]["served_from_snapshot"] is True
    assert client.get("/api/v1/analytics/funnel/?ordered=false").json()["snapshot"] is None  # not a default


@time_machine.travel(NOW, tick=False)
def test_the_command_refreshes():
    _world(37, n=10)
    call_command("refresh_report_snapshots", "--period", "7d")
    overview, _ = overview_query_from_params({"period": "7d"})
    assert stage_flow_report(StageFlowQuery(filters=report_filters(overview))).snapshot is not None


def test_the_results_are_filled_by_the_nightly_chain_only():
    """No separate 04:00 job and no warm-up every few minutes: the nightly chain's last step fills the store."""
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert "nightly-report-snapshots" not in schedule and "overview-warm" not in schedule
    assert schedule["nightly-lifecycle-recompute"]["task"] == "stages.tasks.nightly_recompute_task"
    from stages.services import FINISH_STEPS, SCHEDULED_ONLY

    assert list(FINISH_STEPS)[-1] == "results" and "results" in SCHEDULED_ONLY


@pytest.mark.parametrize("as_of", [PAST, None], ids=["replay-of-a-past-day", "tonight"])
def test_the_nightly_chain_carries_its_as_of_day_to_the_result_layer(as_of):
    """evaluate chunks -> finish -> customer value -> rollups -> results, every link with the same day."""
    from analytics.models import CLVModelFit
    from stages.tasks import nightly_recompute_task

    _world(38, n=12)
    with time_machine.travel(NOW, tick=False):
        summary = nightly_recompute_task.apply(
            kwargs={"as_of": as_of.isoformat() if as_of else None, "chunk_size": 5}
        ).get()
        day = as_of or TODAY
        assert summary["as_of"] == day.isoformat() and summary["steps"][-1] == "results"
        assert CLVModelFit.objects.get().as_of == day
        stored = set(ReportSnapshot.objects.values_list("as_of", flat=True))
        assert stored == {day}
        if as_of is not None:
            # The replay stored the results about that day, which a question about that day is then served.
            assert churn_report(ChurnQuery(as_of=as_of)).snapshot.as_of == as_of
            assert funnel_report(FunnelQuery(as_of=as_of)).snapshot is not None
        else:
            overview, _ = overview_query_from_params({"period": "30d"})
            assert funnel_report(FunnelQuery(filters=report_filters(overview), ordered=False)).snapshot is not None


@time_machine.travel(NOW, tick=False)
def test_recompute_lifecycle_as_of_refreshes_the_matching_results():
    _world(39, n=12)
    call_command("recompute_lifecycle", "--as-of", PAST.isoformat(), "--no-progress", verbosity=0)
    assert set(ReportSnapshot.objects.values_list("as_of", flat=True)) == {PAST}
    assert churn_report(ChurnQuery(as_of=PAST)).snapshot is not None
