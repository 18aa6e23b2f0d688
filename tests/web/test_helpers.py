"""Small pure helpers of the pages: the risk line, KPI change text, ages, money, cursors."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from analytics.kpis import Kpi, overview_query_from_params
from contacts.templatetags.crm_web import age, change_text, money
from contacts.views import _decode_cursor, _encode_cursor, risk_explanation
from metrics.models import ContactMetrics
from tests.factories import ContactFactory, stage

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_risk_line_names_probability_last_purchase_and_rhythm():
    contact = ContactFactory(stage=stage("retention"))
    ContactMetrics.objects.create(
        contact=contact,
        purchase_count=3,
        first_purchase_at=NOW - dt.timedelta(days=100),
        last_purchase_at=NOW - dt.timedelta(days=40),
        p_alive=0.31,
    )
    contact.refresh_from_db()
    text, high = risk_explanation(contact)
    assert high is True
    assert text == "High risk: 31% chance still active — last purchase 40 days ago, usually buys every 30 days."


@time_machine.travel(NOW, tick=False)
def test_risk_line_for_prospects_exit_stages_and_missing_metrics():
    prospect = ContactFactory()
    assert risk_explanation(prospect) == ("No metrics yet: the nightly recompute fills them in.", False)
    ContactMetrics.objects.create(contact=prospect, purchase_count=0, last_touch_at=NOW - dt.timedelta(days=3))
    prospect.refresh_from_db()
    assert risk_explanation(prospect) == ("Not a customer yet; last touch 3 days ago.", False)
    gone = ContactFactory(stage=stage("churned"), stage_entered_at=NOW - dt.timedelta(days=10))
    text, high = risk_explanation(gone)
    assert high and text.startswith("In Churned since 22 May 2026")


def test_kpi_change_is_relative_for_counts_and_points_for_rates():
    assert change_text(Kpi("n", "New", 120, 100)) == "▲ 20.0% vs previous"
    assert change_text(Kpi("r", "Churn", 0.12, 0.15, fmt="percent", higher_is_better=False)) == "▼ 3.0 pts vs previous"
    assert Kpi("r", "Churn", 0.12, 0.15, fmt="percent", higher_is_better=False).trend == "up"  # less churn is good
    assert Kpi("n", "New", 5, 0).change is None  # no ratio against zero
    assert change_text(Kpi("n", "New", 5, None)) == ""


@time_machine.travel(NOW, tick=False)
def test_age_and_money_formatting():
    assert age(NOW - dt.timedelta(days=15)) == "2 weeks"
    assert age(NOW - dt.timedelta(minutes=5)) == "under an hour"
    assert age(NOW - dt.timedelta(days=400)) == "1 year"
    # One money format everywhere (lifecycle_crm.formats): two decimals and the currency, whatever the size.
    assert "12,345.67<" in money(Decimal("12345.67")) and "1.00<" in money(Decimal("1"))
    assert " USD<" in money(Decimal("1"))
    assert money(None) == "—"


def test_cursor_round_trip_and_tampering():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert _decode_cursor(_encode_cursor(when, 7), "stage_entered_at") == (when, 7)
    assert _decode_cursor(_encode_cursor(Decimal("1.50"), 8), "predicted_clv") == (Decimal("1.50"), 8)
    with pytest.raises(ValidationError):
        _decode_cursor("bm90IGpzb24", "id")
    with pytest.raises(ValidationError):
        _decode_cursor(_encode_cursor("not a date", 1), "created_at")


@time_machine.travel(NOW, tick=False)
def test_overview_period_parsing():
    query, errors = overview_query_from_params({"period": "7d"})
    assert not errors and query.days == 7
    # Seven whole days, today included; the previous period the seven before.
    tomorrow = dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    assert (query.start, query.end) == (tomorrow - dt.timedelta(days=7), tomorrow)
    assert query.previous == (tomorrow - dt.timedelta(days=14), query.start)
    query, errors = overview_query_from_params({"period": "custom", "start": "2026-05-10", "end": "2026-05-01"})
    assert "period" in errors and query.period == "30d"


@time_machine.travel(NOW, tick=False)
def test_churn_and_repeat_kpis_come_from_stage_counts_snapshots_and_metrics():
    from analytics.kpis import kpi_overview
    from stages.models import StageSnapshot

    for slug in ("purchase", "retention", "churned"):
        ContactFactory(stage=stage(slug))
    buyer = ContactFactory(stage=stage("loyalty"))
    ContactMetrics.objects.create(contact=buyer, purchase_count=3)
    ContactMetrics.objects.create(contact=ContactFactory(stage=stage("purchase")), purchase_count=1)
    query, _ = overview_query_from_params({"period": "30d"})
    day_before = (query.start - dt.timedelta(days=1)).date()
    StageSnapshot.objects.create(date=day_before, stage=stage("purchase"), contacts=8)
    StageSnapshot.objects.create(date=day_before, stage=stage("churned"), contacts=2)
    kpis = {k.key: k for k in kpi_overview(query=query, user=None).kpis}
    assert kpis["churn_rate"].value == pytest.approx(1 / 5)  # 1 churned of 5 customers ever
    assert kpis["churn_rate"].previous == pytest.approx(2 / 10)
    assert kpis["retention_rate"].value == pytest.approx(4 / 5)
    assert kpis["repeat_rate"].value == pytest.approx(1 / 2)
