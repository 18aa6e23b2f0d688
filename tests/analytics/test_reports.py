"""Reports other than the funnel: each equals a brute-force Python computation on random data,
matches a small hand-checked data set, and runs as one query."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from analytics.reports.base import ReportFilters
from analytics.reports.campaign_performance import CampaignPerformanceQuery, campaign_performance_report
from analytics.reports.channel_performance import ChannelPerformanceQuery, channel_performance_report
from analytics.reports.churn import ChurnQuery, churn_report
from analytics.reports.clv_distribution import CLVDistributionQuery, clv_distribution_report
from analytics.reports.cohort_retention import CohortRetentionQuery, cohort_retention_report
from analytics.reports.stage_counts import StageCountsQuery, stage_counts_report
from analytics.reports.stage_flow import StageFlowQuery, stage_flow_report
from analytics.reports.top_customers import TopCustomersQuery, top_customers_report
from analytics.results import results_bypassed
from campaigns.models import CampaignMember
from contacts.models import Contact, Touchpoint
from metrics.models import ContactMetrics
from stages.models import Stage, StageSnapshot, StageTransition
from tests.analytics.report_data import (
    PATH,
    at,
    contacts_create,
    metrics_write,
    touchpoints_create,
    transitions_create,
)
from tests.factories import CampaignFactory, SegmentFactory, UserFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2024, 12, 31)
DAY = dt.timedelta(days=1)


# ------------------------------------------------------------------ random world


@dataclass
class World:
    contacts: list[Contact]
    owners: list
    campaigns: list


def _world(seed: int, n: int = 70) -> World:
    """Random contacts, transitions, touchpoints (purchases, refunds, campaign touches) and metrics."""
    rng = random.Random(seed)
    owners = [UserFactory(username=f"owner{seed}a"), UserFactory(username=f"owner{seed}b")]
    objective = Stage.objects.get(slug="purchase")
    # One campaign that ended mid-history (its life bounds the touches counted) and one still running.
    campaigns = [
        CampaignFactory(
            cost=Decimal("500.00"), objective=objective, starts_on=dt.date(2023, 9, 1), ends_on=dt.date(2024, 9, 30)
        ),
        CampaignFactory(cost=Decimal("0.00"), starts_on=dt.date(2023, 1, 1), ends_on=None),
    ]
    contacts = contacts_create(n, rng=rng, owners=[*owners, None])
    for contact in contacts:
        contact.acquired_at = at(dt.date(2023, 6, 1)) + dt.timedelta(days=rng.randint(0, 500))
    Contact.objects.bulk_update(contacts, ["acquired_at"])
    transitions, touches, members = [], [], []
    for contact in contacts:
        when = contact.acquired_at
        current = None
        for _ in range(rng.randint(1, 6)):
            target = rng.choice([*PATH, "at_risk", "churned"]) if current else "awareness"
            if target != current:
                transitions.append((contact.pk, current, target, when))
                current = target
            when += dt.timedelta(days=rng.randint(0, 40), seconds=rng.randint(0, 86399))
        start = contact.acquired_at
        for _ in range(rng.randint(0, 8)):
            when = start + dt.timedelta(days=rng.randint(0, 600), seconds=rng.randint(0, 86399))
            kind = rng.choice(["purchase", "purchase", "purchase", "refund", "email_open", "site_visit"])
            amount = f"{rng.randint(1, 30000) / 100:.2f}" if kind in ("purchase", "refund") else None
            campaign = rng.choice([None, None, *campaigns])
            touches.append((contact.pk, kind, when, amount, campaign.pk if campaign else None))
            if rng.random() < 0.25:  # a second purchase on the same day
                touches.append((contact.pk, "purchase", when + dt.timedelta(minutes=5), "10.00", None))
        if rng.random() < 0.1:
            members.append(CampaignMember(campaign=campaigns[1], contact=contact))
    transitions_create(transitions)
    touchpoints_create(touches)
    CampaignMember.objects.bulk_create(members)
    ContactMetrics.objects.bulk_create(
        [
            ContactMetrics(
                contact=c,
                historic_clv=Decimal(rng.randint(-500, 90000)) / 100,
                predicted_clv=Decimal(rng.randint(0, 120000)) / 100 if rng.random() < 0.8 else None,
                p_alive=rng.random(),
                first_purchase_at=c.acquired_at + dt.timedelta(days=rng.randint(0, 90)),
            )
            for c in contacts
            if rng.random() < 0.7
        ]
    )
    return World(contacts=contacts, owners=owners, campaigns=campaigns)


def _in_scope(filters: ReportFilters) -> set[int]:
    """Brute-force contact scope: Python over every contact."""
    touched = set(Touchpoint.objects.filter(campaign_id=filters.campaign_id).values_list("contact_id", flat=True))
    enrolled = set(CampaignMember.objects.filter(campaign_id=filters.campaign_id).values_list("contact_id", flat=True))
    out = set()
    for c in Contact.objects.all():
        if filters.channel and c.acquisition_channel != filters.channel:
            continue
        if filters.owner_id and c.owner_id != filters.owner_id:
            continue
        if filters.campaign_id and c.pk not in touched | enrolled:
            continue
        out.add(c.pk)
    return out


def _filter_cases(world: World) -> list[ReportFilters]:
    return [
        ReportFilters(),
        ReportFilters(channel="email"),
        ReportFilters(owner_id=world.owners[0].pk),
        ReportFilters(campaign_id=world.campaigns[1].pk),
        ReportFilters(period_start=dt.date(2024, 1, 1), period_end=dt.date(2024, 6, 30)),
    ]


def _day(value: dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date()


def _days(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 86400


# ------------------------------------------------------------------- stage flow


@pytest.mark.parametrize("seed", [1, 2])
def test_stage_flow_equals_brute_force(seed):
    world = _world(seed)
    slugs = dict(Stage.objects.values_list("id", "slug"))
    for filters in _filter_cases(world):
        period = (
            filters
            if filters.period_start
            else ReportFilters(period_start=dt.date(2023, 9, 1), period_end=dt.date(2024, 3, 31), **_dims(filters))
        )
        scope = _in_scope(period)
        lo, hi = at(period.period_start, 0), at(period.period_end + DAY, 0)
        moves: dict[tuple, list[int]] = defaultdict(list)
        for t in StageTransition.objects.all():
            if t.contact_id in scope and lo <= t.effective_at < hi:
                moves[(slugs.get(t.from_stage_id), slugs[t.to_stage_id])].append(t.contact_id)
        result = stage_flow_report(StageFlowQuery(filters=period))
        got = {(f.from_stage, f.to_stage): (f.transitions, f.contacts) for f in result.flows}
        assert got == {k: (len(v), len(set(v))) for k, v in moves.items()}
        if not filters.has_contact_filters:
            assert len(got) > 5  # the random world is not empty


def _dims(filters: ReportFilters) -> dict:
    return {
        "channel": filters.channel,
        "owner_id": filters.owner_id,
        "campaign_id": filters.campaign_id,
        "segment_id": filters.segment_id,
    }


def test_stage_flow_fixed_data_and_matrix():
    a, b = contacts_create(2)
    transitions_create(
        [
            (a.pk, None, "awareness", at(dt.date(2024, 5, 1))),
            (a.pk, "awareness", "engagement", at(dt.date(2024, 5, 2))),
            (b.pk, None, "awareness", at(dt.date(2024, 5, 3))),
            (b.pk, "awareness", "engagement", at(dt.date(2024, 5, 4))),
            (b.pk, "engagement", "purchase", at(dt.date(2024, 6, 15))),  # outside the period
        ]
    )
    result = stage_flow_report(
        StageFlowQuery(filters=ReportFilters(period_start=dt.date(2024, 5, 1), period_end=dt.date(2024, 5, 31)))
    )
    assert result.matrix() == {None: {"awareness": 2}, "awareness": {"engagement": 2}}
    assert result.total == 4
    assert result.as_dict()["flows"][0] == {
        "from_stage": None,
        "to_stage": "awareness",
        "transitions": 2,
        "contacts": 2,
    }


# -------------------------------------------------------------- cohort retention


@pytest.mark.parametrize(("seed", "as_of"), [(3, AS_OF), (4, AS_OF), (5, dt.date(2024, 11, 17))])
def test_cohort_retention_equals_brute_force(seed, as_of):
    """Also as of a day inside a month: that month is cut at the day, the earlier ones come whole."""
    world = _world(seed)
    metrics_write()  # cohorts read the engine's purchase months and first purchases
    end = at(as_of + DAY, 0)
    for filters in _filter_cases(world):
        scope = _in_scope(filters)
        purchases = [
            (p.contact_id, _day(p.occurred_at), p.amount)
            for p in Touchpoint.objects.filter(kind="purchase", occurred_at__lt=end)
            if p.contact_id in scope
        ]
        first: dict[int, int] = {}
        for cid, day, _ in purchases:
            m = day.year * 12 + day.month - 1
            first[cid] = min(first.get(cid, m), m)
        cells: dict[tuple[int, int], tuple[set, Decimal]] = {}
        for cid, day, amount in purchases:
            k = day.year * 12 + day.month - 1 - first[cid]
            who, money = cells.get((first[cid], k), (set(), Decimal(0)))
            cells[(first[cid], k)] = (who | {cid}, money + amount)
        lo = filters.period_start.year * 12 + filters.period_start.month - 1 if filters.period_start else -1
        hi = filters.period_end.year * 12 + filters.period_end.month - 1 if filters.period_end else 10**9
        result = cohort_retention_report(CohortRetentionQuery(filters=filters, as_of=as_of, months=6))
        cohorts = sorted({c for c, _ in cells if lo <= c <= hi})
        if filters == ReportFilters():
            assert len(cohorts) > 5
        assert [c.month for c in result.cohorts] == [f"{c // 12}-{c % 12 + 1:02d}" for c in cohorts]
        for cohort, got in zip(cohorts, result.cohorts, strict=True):
            size = len(cells[(cohort, 0)][0])
            assert got.size == size
            horizon = min(6, as_of.year * 12 + as_of.month - 1 - cohort)
            assert [cell.k for cell in got.cells] == list(range(horizon + 1))
            for cell in got.cells:
                who, money = cells.get((cohort, cell.k), (set(), Decimal(0)))
                assert cell.customers == len(who)
                assert cell.share == pytest.approx(len(who) / size)
                assert cell.revenue == money
                assert cell.revenue_retention == pytest.approx(float(money / cells[(cohort, 0)][1]))


def test_cohort_retention_fixed_data():
    a, b, c = contacts_create(3)
    touchpoints_create(
        [
            (a.pk, "purchase", at(dt.date(2024, 1, 5)), "100.00", None),
            (a.pk, "purchase", at(dt.date(2024, 2, 5)), "50.00", None),
            (b.pk, "purchase", at(dt.date(2024, 1, 20)), "100.00", None),
            (b.pk, "purchase", at(dt.date(2024, 3, 1)), "25.00", None),
            (c.pk, "purchase", at(dt.date(2024, 2, 10)), "40.00", None),
            (c.pk, "site_visit", at(dt.date(2024, 3, 10)), None, None),
        ]
    )
    metrics_write()
    result = cohort_retention_report(CohortRetentionQuery(as_of=dt.date(2024, 3, 31), months=3))
    jan, feb = result.cohorts
    assert (jan.month, jan.size, jan.revenue) == ("2024-01", 2, Decimal("200.00"))
    assert [(x.k, x.customers, x.share) for x in jan.cells] == [(0, 2, 1.0), (1, 1, 0.5), (2, 1, 0.5)]
    assert [x.revenue_retention for x in jan.cells] == [1.0, 0.25, 0.125]
    assert (feb.month, feb.size, [x.customers for x in feb.cells]) == ("2024-02", 1, [1, 0])


# ------------------------------------------------------------------------ churn


@pytest.mark.parametrize("seed", [5, 6])
def test_churn_equals_brute_force(seed):
    world = _world(seed)
    for filters in _filter_cases(world):
        for inactive in (60, 180):
            scope = _in_scope(filters)
            days: dict[int, set[dt.date]] = defaultdict(set)
            for p in Touchpoint.objects.filter(kind="purchase", occurred_at__lt=at(AS_OF + DAY, 0)):
                if p.contact_id in scope:
                    days[p.contact_id].add(_day(p.occurred_at))
            customers = {
                cid: sorted(ds)
                for cid, ds in days.items()
                if (not filters.period_start or min(ds) >= filters.period_start)
                and (not filters.period_end or min(ds) <= filters.period_end)
            }
            churned = sum(1 for ds in customers.values() if ds[-1] < AS_OF - dt.timedelta(days=inactive))
            repeat = [ds for ds in customers.values() if len(ds) >= 2]
            gaps = [(b - a).days for ds in repeat for a, b in itertools.pairwise(ds)]
            result = churn_report(ChurnQuery(filters=filters, as_of=AS_OF, inactive_days=inactive))
            if filters == ReportFilters():
                assert result.customers > 20 and 0 < result.churned < result.customers and gaps
            assert (result.customers, result.churned, result.repeat_customers) == (
                len(customers),
                churned,
                len(repeat),
            )
            if gaps:
                assert result.avg_days_between_purchases == pytest.approx(statistics.mean(gaps))
            else:
                assert result.avg_days_between_purchases is None


def test_churn_fixed_data(settings):
    settings.CRM_CHURN_INACTIVE_DAYS = 90
    a, b, c = contacts_create(3)
    touchpoints_create(
        [
            (a.pk, "purchase", at(dt.date(2024, 1, 1), 9), "10.00", None),
            (a.pk, "purchase", at(dt.date(2024, 1, 1), 15), "10.00", None),  # same day: one purchase day
            (a.pk, "purchase", at(dt.date(2024, 1, 11)), "10.00", None),
            (a.pk, "purchase", at(dt.date(2024, 1, 31)), "10.00", None),
            (b.pk, "purchase", at(dt.date(2024, 6, 1)), "10.00", None),
            (c.pk, "refund", at(dt.date(2024, 6, 1)), "10.00", None),
        ]
    )
    result = churn_report(ChurnQuery(as_of=dt.date(2024, 6, 30)))
    assert result.inactive_days == 90
    assert (result.customers, result.churned, result.repeat_customers) == (2, 1, 1)
    assert result.churn_rate == 0.5 and result.repeat_purchase_rate == 0.5
    assert result.avg_days_between_purchases == 15.0  # gaps of 10 and 20 days


# ------------------------------------------------------------------ stage counts


def test_stage_counts_read_snapshots_and_refuse_contact_filters():
    stages = {s.slug: s for s in Stage.objects.all()}
    StageSnapshot.objects.bulk_create(
        [
            StageSnapshot(date=dt.date(2024, 5, 1), stage=stages["awareness"], contacts=10),
            StageSnapshot(date=dt.date(2024, 5, 1), stage=stages["purchase"], contacts=3),
            StageSnapshot(date=dt.date(2024, 5, 2), stage=stages["awareness"], contacts=12),
            StageSnapshot(date=dt.date(2024, 6, 1), stage=stages["awareness"], contacts=99),
        ]
    )
    result = stage_counts_report(
        StageCountsQuery(filters=ReportFilters(period_start=dt.date(2024, 5, 1), period_end=dt.date(2024, 5, 31)))
    )
    assert result.dates == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    assert {s.stage: s.counts for s in result.series} == {"awareness": [10, 12], "purchase": [3, 0]}
    with pytest.raises(ValidationError):
        stage_counts_report(StageCountsQuery(filters=ReportFilters(channel="email")))


@time_machine.travel(dt.datetime(2024, 5, 10, 8, tzinfo=dt.UTC), tick=False)
def test_stage_counts_default_to_the_last_90_days():
    stage = Stage.objects.get(slug="awareness")
    StageSnapshot.objects.create(date=dt.date(2024, 2, 11), stage=stage, contacts=1)
    StageSnapshot.objects.create(date=dt.date(2024, 2, 10), stage=stage, contacts=2)
    result = stage_counts_report(StageCountsQuery())
    assert (result.period_start, result.period_end) == (dt.date(2024, 2, 11), dt.date(2024, 5, 10))
    assert result.dates == [dt.date(2024, 2, 11)]


# ----------------------------------------------------------- CLV distribution/top


@pytest.mark.parametrize("seed", [7, 8])
def test_clv_distribution_and_top_customers_equal_brute_force(seed):
    world = _world(seed)
    for filters in _filter_cases(world):
        scope = _in_scope(filters)
        for measure in ("predicted", "historic"):
            rows = [
                m
                for m in ContactMetrics.objects.filter(predicted_clv__isnull=False)
                if m.contact_id in scope
                and (not filters.period_start or m.first_purchase_at >= at(filters.period_start, 0))
                and (not filters.period_end or m.first_purchase_at < at(filters.period_end + DAY, 0))
            ]
            values = [m.predicted_clv if measure == "predicted" else m.historic_clv for m in rows]
            result = clv_distribution_report(CLVDistributionQuery(filters=filters, measure=measure, buckets=7))
            assert result.customers == len(values)
            if not values:
                assert result.buckets == []
                continue
            assert result.total == sum(values)
            assert result.median == pytest.approx(float(statistics.median(values)))
            top = max(values)
            counts = [0] * 7
            for v in values:
                counts[0 if top <= 0 or v <= 0 else min(6, int(v * 7 / top))] += 1
            assert [b.customers for b in result.buckets] == counts

            best = sorted(rows, key=lambda m: (-(m.predicted_clv if measure == "predicted" else m.historic_clv), m.pk))
            got = top_customers_report(TopCustomersQuery(filters=filters, measure=measure, limit=5))
            assert [c.contact_id for c in got.customers] == [m.contact_id for m in best[:5]]


def test_clv_distribution_fixed_data():
    a, b, c, d = contacts_create(4)
    for contact, value in ((a, "10.00"), (b, "20.00"), (c, "100.00"), (d, None)):
        ContactMetrics.objects.create(
            contact=contact,
            predicted_clv=Decimal(value) if value else None,
            historic_clv=Decimal("5.00"),
        )
    result = clv_distribution_report(CLVDistributionQuery(buckets=4))
    assert (result.customers, result.total, result.maximum) == (3, Decimal("130.00"), Decimal("100.00"))
    assert result.median == 20.0 and result.mean == pytest.approx(130 / 3)
    assert [(b.lower, b.upper, b.customers) for b in result.buckets] == [
        (Decimal("0.00"), Decimal("25.00"), 2),
        (Decimal("25.00"), Decimal("50.00"), 0),
        (Decimal("50.00"), Decimal("75.00"), 0),
        (Decimal("75.00"), Decimal("100.00"), 1),
    ]
    top = top_customers_report(TopCustomersQuery(limit=2))
    assert [t.contact_id for t in top.customers] == [c.pk, b.pk]
    assert top.customers[0].stage == "awareness" and top.as_dict()["customers"][0]["predicted_clv"] == "100.00"


# -------------------------------------------------------------- campaign / channel


@pytest.mark.parametrize("seed", [9, 10])
def test_campaign_performance_equals_brute_force(seed):
    world = _world(seed)
    stages = {s.id: s for s in Stage.objects.all()}
    transitions = list(StageTransition.objects.all())
    purchases = list(Touchpoint.objects.filter(kind="purchase"))
    first_purchase: dict[int, dt.datetime] = {}
    for p in purchases:
        first_purchase[p.contact_id] = min(first_purchase.get(p.contact_id, p.occurred_at), p.occurred_at)
    for filters in _filter_cases(world):
        scope = _in_scope(ReportFilters(**{**_dims(filters), "campaign_id": None}))
        result = campaign_performance_report(CampaignPerformanceQuery(filters=filters, window_days=45))
        expected_ids = [c.pk for c in world.campaigns if not filters.campaign_id or c.pk == filters.campaign_id]
        assert sorted(c.campaign_id for c in result.campaigns) == sorted(expected_ids)
        for got in result.campaigns:
            campaign = next(c for c in world.campaigns if c.pk == got.campaign_id)
            first_touch: dict[int, dt.datetime] = {}
            life_end = at(campaign.ends_on + DAY, 0) if campaign.ends_on else timezone.now()
            for t in Touchpoint.objects.filter(campaign_id=campaign.pk):
                in_period = (not filters.period_start or t.occurred_at >= at(filters.period_start, 0)) and (
                    not filters.period_end or t.occurred_at < at(filters.period_end + DAY, 0)
                )
                in_life = at(campaign.starts_on, 0) <= t.occurred_at < life_end
                if t.contact_id in scope and in_period and in_life:
                    first_touch[t.contact_id] = min(first_touch.get(t.contact_id, t.occurred_at), t.occurred_at)

            def within(cid, when):
                return first_touch[cid] <= when and _days(first_touch[cid], when) <= 45  # noqa: B023

            advanced = {
                t.contact_id
                for t in transitions
                if t.contact_id in first_touch
                and within(t.contact_id, t.effective_at)
                and t.from_stage_id
                and stages[t.to_stage_id].category != "exit"
                and (
                    stages[t.from_stage_id].category == "exit"
                    or stages[t.to_stage_id].position > stages[t.from_stage_id].position
                )
            }
            objective = {
                t.contact_id
                for t in transitions
                if t.contact_id in first_touch
                and within(t.contact_id, t.effective_at)
                and t.to_stage_id == campaign.objective_id
            }
            window_purchases = [
                p for p in purchases if p.contact_id in first_touch and within(p.contact_id, p.occurred_at)
            ]
            acquisitions = [cid for cid in first_touch if cid in first_purchase and within(cid, first_purchase[cid])]
            assert got.reach == len(first_touch)
            if filters == ReportFilters():
                assert got.reach > 5 and got.revenue > 0
            assert got.advanced == len(advanced)
            assert got.reached_objective == len(objective)
            assert got.revenue == sum((p.amount for p in window_purchases), Decimal("0.00"))
            assert got.buyers == len({p.contact_id for p in window_purchases})
            assert got.acquisitions == len(acquisitions)
            if campaign.cost and acquisitions:
                assert got.cost_per_acquisition == (campaign.cost / len(acquisitions)).quantize(Decimal("0.01"))
            if campaign.cost and first_touch:
                assert got.roi == pytest.approx((float(got.revenue) - float(campaign.cost)) / float(campaign.cost))
            else:
                assert got.roi is None  # nothing attributed yet (or no cost): "—", not -100 %
            assert got.life_start == campaign.starts_on
            assert got.life_end == (campaign.ends_on or timezone.localdate()) + dt.timedelta(days=45)


def test_campaign_performance_fixed_data(settings):
    settings.CRM_MARGIN = 0.5
    objective = Stage.objects.get(slug="purchase")
    campaign = CampaignFactory(
        cost=Decimal("100.00"), objective=objective, starts_on=dt.date(2024, 3, 1), ends_on=dt.date(2024, 3, 31)
    )
    a, b, c = contacts_create(3)
    touchpoints_create(
        [
            (a.pk, "email_click", at(dt.date(2024, 3, 1)), None, campaign.pk),
            (a.pk, "purchase", at(dt.date(2024, 3, 5)), "300.00", None),
            (a.pk, "purchase", at(dt.date(2024, 5, 5)), "999.00", None),  # outside the 30-day window
            (b.pk, "email_open", at(dt.date(2024, 3, 2)), None, campaign.pk),
            (b.pk, "purchase", at(dt.date(2024, 2, 1)), "50.00", None),  # before the touch: not an acquisition
            (b.pk, "purchase", at(dt.date(2024, 3, 3)), "100.00", None),
            (c.pk, "site_visit", at(dt.date(2024, 3, 2)), None, None),
        ]
    )
    transitions_create(
        [
            (a.pk, "awareness", "purchase", at(dt.date(2024, 3, 5))),
            (b.pk, "purchase", "at_risk", at(dt.date(2024, 3, 10))),
        ]
    )
    # A touch after the campaign's end is not the campaign's doing, even when attributed to it.
    touchpoints_create([(c.pk, "email_click", at(dt.date(2024, 4, 2)), None, campaign.pk)])
    idle = CampaignFactory(cost=Decimal("50.00"), starts_on=dt.date(2024, 3, 1))
    rows = {r.campaign_id: r for r in campaign_performance_report(CampaignPerformanceQuery()).campaigns}
    row = rows[campaign.pk]
    assert (row.reach, row.advanced, row.reached_objective) == (2, 1, 1)
    assert (row.revenue, row.buyers, row.acquisitions) == (Decimal("400.00"), 2, 1)
    assert row.cost_per_acquisition == Decimal("100.00")
    assert row.roi == pytest.approx((400 * 0.5 - 100) / 100)
    assert (row.life_start, row.life_end) == (dt.date(2024, 3, 1), dt.date(2024, 4, 30))
    # Nothing attributed yet: no ROI ("—"), not -100 %.
    assert rows[idle.pk].reach == 0 and rows[idle.pk].roi is None


def test_overview_campaign_chart_measures_each_campaign_over_its_life_not_the_period(settings):
    """Was: the whole cost against the dashboard period's revenue, so a campaign that ended a year ago read -100 %."""
    from analytics.charts import _campaigns
    from analytics.kpis import overview_query_from_params
    from analytics.reports import campaign_performance

    campaign = CampaignFactory(cost=Decimal("100.00"), starts_on=dt.date(2024, 3, 1), ends_on=dt.date(2024, 3, 31))
    (a,) = contacts_create(1)
    touchpoints_create(
        [
            (a.pk, "email_click", at(dt.date(2024, 3, 1)), None, campaign.pk),
            (a.pk, "purchase", at(dt.date(2024, 3, 5)), "300.00", None),
        ]
    )
    query, _ = overview_query_from_params({"period": "30d"})
    with results_bypassed():
        chart = _campaigns(campaign_performance, query)
    (row,) = chart.rows
    roi = chart.columns.index(next(c for c in chart.columns if c.metric == "campaign.roi"))
    assert row[roi] == pytest.approx(2.0)
    assert "attribution window of 30 days" in chart.caption


@pytest.mark.parametrize(("seed", "recent_days"), [(11, 0), (12, 0), (11, 10**6), (12, 10**6)])
def test_channel_performance_equals_brute_force(seed, recent_days, monkeypatch):
    """Both ways to a past as_of: the touchpoint history, and the metrics less the later money."""
    monkeypatch.setattr("analytics.reports.channel_performance.RECENT_DAYS", recent_days)
    world = _world(seed)
    metrics_write()  # a past as_of is the engine's metrics less the money after that day
    end = at(AS_OF + DAY, 0)
    money: dict[int, list] = defaultdict(lambda: [0, Decimal(0)])
    for t in Touchpoint.objects.filter(kind__in=["purchase", "refund"], occurred_at__lt=end):
        if t.kind == "purchase":
            money[t.contact_id][0] += 1
            money[t.contact_id][1] += t.amount
        else:
            money[t.contact_id][1] -= t.amount
    metrics = dict(ContactMetrics.objects.values_list("contact_id", "predicted_clv"))
    for filters in _filter_cases(world):
        scope = _in_scope(filters)
        groups: dict[str, list[Contact]] = defaultdict(list)
        for c in Contact.objects.filter(pk__in=scope):
            if (not filters.period_start or c.acquired_at >= at(filters.period_start, 0)) and (
                not filters.period_end or c.acquired_at < at(filters.period_end + DAY, 0)
            ):
                groups[c.acquisition_channel].append(c)
        result = channel_performance_report(ChannelPerformanceQuery(filters=filters, as_of=AS_OF))
        assert [r.channel for r in result.channels] == sorted(groups)
        if filters == ReportFilters():
            assert sum(r.customers for r in result.channels) > 10
        for row in result.channels:
            members = groups[row.channel]
            customers = [c for c in members if money[c.pk][0] > 0]
            clvs = [metrics[c.pk] for c in customers if metrics.get(c.pk) is not None]
            assert row.contacts == len(members)
            assert row.customers == len(customers)
            assert row.revenue == sum((money[c.pk][1] for c in members), Decimal(0))
            if clvs:
                assert row.avg_clv == pytest.approx(float(sum(clvs) / len(clvs)), abs=1e-4)
            else:
                assert row.avg_clv is None


@pytest.mark.parametrize("seed", [14])
def test_channel_performance_now_from_metrics_equals_the_touchpoint_history(seed):
    """Without a past as_of the report reads the metrics the engine writes; it must equal the history path."""
    from stages.services import lifecycle_recompute

    world = _world(seed)
    lifecycle_recompute()  # writes every contact's metrics, as real-time evaluation and the nightly run do
    yesterday = timezone.localdate() - DAY  # every generated touchpoint is older than this
    assert not Touchpoint.objects.filter(occurred_at__gte=at(yesterday, 0)).exists()
    for filters in _filter_cases(world):
        now = channel_performance_report(ChannelPerformanceQuery(filters=filters))
        history = channel_performance_report(ChannelPerformanceQuery(filters=filters, as_of=yesterday))
        assert now.as_of == timezone.localdate()
        assert now.channels == history.channels
        if filters == ReportFilters():
            assert sum(r.customers for r in now.channels) > 10


def test_channel_performance_now_counts_what_the_engine_wrote():
    """The now path reads purchase_count and revenue from metrics, so an evaluated purchase shows at once."""
    (a,) = contacts_create(1, acquisition_channel="email")
    (b,) = contacts_create(1, acquisition_channel="email")
    ContactMetrics.objects.create(contact=a, purchase_count=2, revenue=Decimal("70.00"), predicted_clv=Decimal("90"))
    ContactMetrics.objects.create(contact=b, purchase_count=0, revenue=Decimal("0"), predicted_clv=Decimal("999"))
    (email,) = channel_performance_report(ChannelPerformanceQuery()).channels
    assert (email.contacts, email.customers, email.revenue, email.avg_clv) == (2, 1, Decimal("70.00"), 90.0)


def test_channel_performance_now_is_one_query(django_assert_num_queries):
    world = _world(15, n=20)
    filters = ReportFilters(channel="email", owner_id=world.owners[0].pk, campaign_id=world.campaigns[0].pk)
    with results_bypassed(), django_assert_num_queries(1):
        channel_performance_report(ChannelPerformanceQuery(filters=filters))


@pytest.mark.parametrize("recent_days", [0, 10**6])
def test_channel_performance_fixed_data(recent_days, monkeypatch):
    monkeypatch.setattr("analytics.reports.channel_performance.RECENT_DAYS", recent_days)
    a, b = contacts_create(2, acquisition_channel="email")
    c = contacts_create(1, acquisition_channel="paid_social")[0]
    touchpoints_create(
        [
            (a.pk, "purchase", at(dt.date(2024, 3, 1)), "80.00", None),
            (a.pk, "refund", at(dt.date(2024, 3, 2)), "30.00", None),
            (c.pk, "site_visit", at(dt.date(2024, 3, 2)), None, None),
            # After the as-of day: subtracted from the engine's present metrics.
            (b.pk, "purchase", at(dt.date(2025, 1, 10)), "20.00", None),
            (a.pk, "refund", at(dt.date(2025, 2, 1)), "10.00", None),
        ]
    )
    ContactMetrics.objects.create(contact=a, predicted_clv=Decimal("120.00"))
    metrics_write()
    result = channel_performance_report(ChannelPerformanceQuery(as_of=dt.date(2024, 12, 31)))
    email, social = result.channels
    assert (email.channel, email.contacts, email.customers, email.conversion_rate) == ("email", 2, 1, 0.5)
    assert (email.revenue, email.avg_clv) == (Decimal("50.00"), 120.0)
    assert (social.contacts, social.customers, social.revenue, social.avg_clv) == (1, 0, Decimal("0.00"), None)
    assert b.pk  # b counts as an email contact without purchases
    email, _ = channel_performance_report(ChannelPerformanceQuery()).channels
    assert (email.customers, email.revenue, email.avg_clv) == (2, Decimal("60.00"), 120.0)


# -------------------------------------------------------------- segments, queries


def test_segment_filter_applies_saved_filters():
    contacts_create(2, acquisition_channel="email")
    contacts_create(3, acquisition_channel="paid_social")
    segment = SegmentFactory(filters={"channel": ["paid_social"]})
    result = channel_performance_report(ChannelPerformanceQuery(filters=ReportFilters(segment_id=segment.pk)))
    assert [(r.channel, r.contacts) for r in result.channels] == [("paid_social", 3)]


REPORTS = [
    lambda f: stage_flow_report(StageFlowQuery(filters=f)),
    lambda f: cohort_retention_report(CohortRetentionQuery(filters=f, as_of=AS_OF)),
    lambda f: churn_report(ChurnQuery(filters=f, as_of=AS_OF)),
    lambda f: clv_distribution_report(CLVDistributionQuery(filters=f)),
    lambda f: top_customers_report(TopCustomersQuery(filters=f)),
    lambda f: campaign_performance_report(CampaignPerformanceQuery(filters=f)),
    lambda f: channel_performance_report(ChannelPerformanceQuery(filters=f, as_of=AS_OF)),
]


@pytest.mark.parametrize("run", REPORTS)
def test_each_report_is_one_query_with_filters(run, django_assert_num_queries):
    world = _world(13, n=20)
    filters = ReportFilters(
        period_start=dt.date(2023, 1, 1),
        period_end=AS_OF,
        channel="email",
        owner_id=world.owners[0].pk,
        campaign_id=world.campaigns[0].pk,
    )
    # The report's own statement; the snapshot lookup before it is counted in test_snapshots.py.
    with results_bypassed(), django_assert_num_queries(1):
        run(filters)


def test_stage_counts_is_one_query(django_assert_num_queries):
    with results_bypassed(), django_assert_num_queries(1):
        stage_counts_report(StageCountsQuery())


@pytest.mark.parametrize("run", REPORTS)
def test_a_segment_filter_costs_one_more_query(run, django_assert_num_queries):
    segment = SegmentFactory(filters={"channel": ["email"]})
    with results_bypassed(), django_assert_num_queries(2):
        run(ReportFilters(segment_id=segment.pk))


def test_filters_validate_input():
    with pytest.raises(ValidationError):
        ReportFilters(period_start=dt.date(2024, 2, 1), period_end=dt.date(2024, 1, 1)).validate()
    with pytest.raises(ValidationError):
        ReportFilters(channel="carrier_pigeon").validate()
    with pytest.raises(ValidationError):
        ReportFilters.from_params({"period_start": "yesterday"})
    parsed = ReportFilters.from_params({"period_start": "2024-01-01", "campaign": "3", "channel": "email"})
    assert (parsed.period_start, parsed.campaign_id, parsed.channel) == (dt.date(2024, 1, 1), 3, "email")
