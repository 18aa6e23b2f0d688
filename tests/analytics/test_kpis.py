"""The overview's KPI cards against their definitions, computed row by row in Python, on random data and filters.

The card queries are shaped for speed at scale (channel and owner compared in place,
metrics probed per contact, index-only ranges); these tests hold every card to the plain
meaning in its help text for every kind of filter, so a faster query can never change a number.
"""

import datetime as dt
import random
from collections import Counter
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from analytics.kpis import KPI_LABELS, kpi_base, kpi_overview, overview_query_from_params, report_filters
from analytics.reports.base import contact_scope_queryset
from campaigns.models import CampaignMember
from contacts.models import Contact, Touchpoint
from metrics.models import ContactMetrics
from stages.models import Stage, StageCategory, StageSnapshot, StageTransition
from tests.factories import CampaignFactory, ContactFactory, SegmentFactory, TouchpointFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANNELS = ["email", "paid_search", "referral"]


@pytest.fixture
def random_crm():
    """60 contacts over 400 days with random channel, owner, stage, metrics, extra moves, purchases and campaigns."""
    rng = random.Random(20261122)
    now = timezone.now()
    owners = [UserFactory(), UserFactory(), None]
    stages = list(Stage.objects.filter(is_active=True))
    campaign = CampaignFactory()
    contacts = []
    for _ in range(60):
        created = now - dt.timedelta(days=rng.uniform(0, 400))
        contact = ContactFactory(
            acquisition_channel=rng.choice(CHANNELS),
            owner=rng.choice(owners),
            acquired_at=created,
            stage=rng.choice(stages),
        )
        contacts.append(contact)
        if rng.random() < 0.85:  # some contacts were never evaluated: no metrics row
            purchases = rng.choice([0, 0, 1, 2, 3])
            ContactMetrics.objects.create(
                contact=contact,
                purchase_count=purchases,
                historic_clv=Decimal(rng.randint(0, 90000)) / 100 if purchases else 0,
                predicted_clv=None if rng.random() < 0.2 else Decimal(rng.randint(0, 90000)) / 100,
            )
        for _ in range(rng.randint(0, 3)):
            to_stage = rng.choice(stages)
            StageTransition.objects.create(
                contact=contact,
                from_stage=rng.choice([None, *(s for s in stages if s != to_stage)]),
                to_stage=to_stage,
                effective_at=now - dt.timedelta(days=rng.uniform(0, 400)),
                source="rule",
            )
        for _ in range(rng.randint(0, 3)):
            TouchpointFactory(
                contact=contact,
                kind=rng.choice(["purchase", "purchase", "refund", "site_visit"]),
                occurred_at=now - dt.timedelta(days=rng.uniform(0, 400)),
                campaign=campaign if rng.random() < 0.3 else None,
            )
        if rng.random() < 0.1:
            CampaignMember.objects.create(campaign=campaign, contact=contact)
    segment = SegmentFactory(filters={"channel": ["email", "referral"]})
    return {"owners": [o for o in owners if o], "campaign": campaign, "segment": segment, "stages": stages}


def _expected(params: dict) -> dict:
    """Every card by its definition, from plain rows (the help texts in analytics/kpis.py)."""
    query, errors = overview_query_from_params(QueryDict(mutable=True) | params)
    assert not errors
    scope = contact_scope_queryset(report_filters(query))
    ids = (
        set(scope.values_list("id", flat=True))
        if scope is not None
        else set(Contact.objects.values_list("id", flat=True))
    )
    contacts = [c for c in Contact.objects.all() if c.pk in ids]
    metrics = {m.contact_id: m for m in ContactMetrics.objects.filter(contact_id__in=ids)}
    start, end = query.start, query.end
    prev_start, prev_end = query.previous
    stages = list(Stage.objects.filter(is_active=True))
    customer = {s.pk for s in stages if s.category == StageCategory.CUSTOMER}
    prospect = {s.pk for s in stages if s.category == StageCategory.PROSPECT}
    churned = {s.pk for s in stages if s.slug == "churned"}

    def created_in(a, b):
        return [c for c in contacts if a <= c.created_at < b]

    def bought(c):
        return c.pk in metrics and metrics[c.pk].purchase_count > 0

    def moved(a, b, to, first_buy):
        rows = StageTransition.objects.filter(contact_id__in=ids, effective_at__gte=a, effective_at__lt=b)
        return sum(
            1
            for t in rows
            if t.to_stage_id in to and (not first_buy or t.from_stage_id is None or t.from_stage_id in prospect)
        )

    def revenue(a, b):
        rows = Touchpoint.objects.filter(contact_id__in=ids, kind="purchase", occurred_at__gte=a, occurred_at__lt=b)
        return sum((t.amount for t in rows), Decimal("0"))

    customers = [m for m in metrics.values() if m.purchase_count > 0]
    predicted = [m.predicted_clv for m in customers if m.predicted_clv is not None]
    counts = Counter(c.stage_id for c in contacts)
    been_customer = customer | {s.pk for s in stages if s.category == StageCategory.EXIT}
    base = sum(n for pk, n in counts.items() if pk in been_customer)
    churn = sum(counts[pk] for pk in churned) / base if base else None
    new, new_prev = created_in(start, end), created_in(prev_start, prev_end)
    return {
        "stages": {s.pk: counts.get(s.pk, 0) for s in stages},
        "new_contacts": (len(new), len(new_prev)),
        "conversion": (
            sum(map(bought, new)) / len(new) if new else None,
            sum(map(bought, new_prev)) / len(new_prev) if new_prev else None,
        ),
        "new_customers": (moved(start, end, customer, True), moved(prev_start, prev_end, customer, True)),
        "churned": (moved(start, end, churned, False), moved(prev_start, prev_end, churned, False)),
        "revenue": (revenue(start, end), revenue(prev_start, prev_end)),
        "churn_rate": churn,
        "repeat_rate": sum(m.purchase_count >= 2 for m in customers) / len(customers) if customers else None,
        "avg_clv": sum(m.historic_clv for m in customers) / len(customers) if customers else None,
        "predicted_clv": sum(predicted) / len(predicted) if predicted else None,
        "query": query,
    }


def _filter_combinations(crm) -> list[dict]:
    owner = crm["owners"][0]
    today = timezone.now().date()
    return [
        {"period": "30d"},
        {"period": "90d"},
        {"period": "365d"},
        {"period": "7d", "channel": "email"},
        {"period": "90d", "channel": "paid_search"},
        {"period": "365d", "owner": str(owner.pk)},
        {"period": "90d", "channel": "referral", "owner": str(owner.pk)},
        {"period": "365d", "campaign": str(crm["campaign"].pk)},
        {"period": "90d", "segment": str(crm["segment"].pk)},
        {"period": "365d", "segment": str(crm["segment"].pk), "channel": "email", "campaign": str(crm["campaign"].pk)},
        {"start": (today - dt.timedelta(days=200)).isoformat(), "end": today.isoformat()},
        {"start": "2020-01-01", "end": "2020-01-31", "channel": "email"},
    ]


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 1e-9


@pytest.mark.parametrize("probe_days", [None, 0, 10**6], ids=["as-shipped", "always-join", "always-probe"])
def test_every_card_equals_its_definition_for_every_kind_of_filter(random_crm, probe_days, monkeypatch):
    """Also with the conversion card forced onto each of its two forms (a metrics probe per contact, a join)."""
    if probe_days is not None:
        monkeypatch.setattr("analytics.kpis.EXISTS_MAX_DAYS", probe_days)
        monkeypatch.setattr("analytics.kpis.EXISTS_MAX_DAYS_UNFILTERED", probe_days)
    checked = 0
    for params in _filter_combinations(random_crm):
        want = _expected(params)
        overview = kpi_overview(query=want["query"], user=None)
        cards = {k.key: k for k in overview.kpis}
        assert {sc.stage.pk: sc.count for sc in overview.stages} == want["stages"], params
        for key in ("new_contacts", "new_customers", "churned", "revenue"):
            assert (cards[key].value, cards[key].previous) == want[key], (params, key)
        assert _close(cards["conversion"].value, want["conversion"][0]), params
        assert _close(cards["conversion"].previous, want["conversion"][1]), params
        for key in ("churn_rate", "repeat_rate", "predicted_clv"):
            assert _close(cards[key].value, want[key]), (params, key)
        assert _close(cards["avg_clv"].value, want["avg_clv"]), params
        checked += 1
    assert checked == len(_filter_combinations(random_crm))


def test_random_data_exercises_every_card(random_crm):
    """Guards the test above against vacuous data: the default 365-day view has something in every card."""
    want = _expected({"period": "365d"})
    assert all(want[key][0] for key in ("new_contacts", "new_customers", "churned", "revenue"))
    assert want["conversion"][0] and want["repeat_rate"] and want["avg_clv"] and want["predicted_clv"]


def test_stage_counts_show_the_snapshot_at_the_period_start_only_for_the_whole_base(random_crm):
    query, _ = overview_query_from_params({"period": "30d"})
    day = (query.start - dt.timedelta(days=1)).date()
    first = random_crm["stages"][0]
    StageSnapshot.objects.create(date=day, stage=first, contacts=41)
    whole = kpi_overview(query=query, user=None)
    assert next(sc for sc in whole.stages if sc.stage == first).previous == 41
    filtered, _ = overview_query_from_params({"period": "30d", "channel": "email"})
    assert all(sc.previous is None for sc in kpi_overview(query=filtered, user=None).stages)


def test_the_period_independent_part_reused_for_another_period_gives_the_same_cards(random_crm):
    """The overview caches `kpi_base` per contact filters; a base from any other period must change no card."""
    for params in _filter_combinations(random_crm):
        query, _ = overview_query_from_params(params)
        other_period = {k: v for k, v in params.items() if k not in ("period", "start", "end")} | {"period": "7d"}
        other, _ = overview_query_from_params(other_period)
        base = kpi_base(query=other)
        assert base == kpi_base(query=query), params
        reused = kpi_overview(query=query, user=None, base=base)
        whole = kpi_overview(query=query, user=None)
        assert [(sc.stage.pk, sc.count, sc.previous) for sc in reused.stages] == [
            (sc.stage.pk, sc.count, sc.previous) for sc in whole.stages
        ], params
        assert [(k.key, k.value, k.previous, k.help) for k in reused.kpis] == [
            (k.key, k.value, k.previous, k.help) for k in whole.kpis
        ], params


def test_cards_come_in_the_order_and_with_the_labels_the_placeholder_shows(random_crm):
    query, _ = overview_query_from_params({"period": "30d"})
    assert [(k.key, k.label) for k in kpi_overview(query=query, user=None).kpis] == list(KPI_LABELS.items())
