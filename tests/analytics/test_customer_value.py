"""The customer-value recompute: CDNOW through the project, fallback, RFM, set-based writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from analytics import clv
from analytics.models import CLVModelFit
from analytics.selectors import clv_model_fit_as_dict, clv_model_fit_latest
from analytics.services import RFM_SEGMENT_GRID, customer_value_recompute, rfm_segment_for
from analytics.tasks import customer_value_recompute_task
from contacts.models import Contact
from contacts.touchpoint_services import touchpoint_bulk_create
from metrics.models import ContactMetrics, RfmSegment
from tests.analytics.cdnow import (
    CALIBRATION_END,
    PUBLISHED_BGNBD,
    PUBLISHED_CONDITIONAL,
    PUBLISHED_CUSTOMERS,
    PUBLISHED_GAMMA_GAMMA,
    PUBLISHED_REPEAT_CUSTOMERS,
    TOLERANCE,
    import_cdnow,
    relative_error,
)
from tests.factories import ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db


def test_cdnow_through_the_project_reproduces_published_results(tmp_path, settings):
    # The published conditional expectation is BG/NBD's: pin it (the backtest would choose Pareto/NBD).
    settings.CRM_CLV_MODEL = "bgnbd"
    ids = import_cdnow(tmp_path)
    # 9 months = 39 weeks, the horizon of the published conditional expectation.
    result = customer_value_recompute(as_of=CALIBRATION_END, horizon_months=9, min_customers=100)
    assert not result.is_fallback, result.note
    fit = CLVModelFit.objects.get(pk=result.fit_id)
    assert fit.n_customers == PUBLISHED_CUSTOMERS
    assert fit.n_repeat_customers == PUBLISHED_REPEAT_CUSTOMERS
    for name, expected in {**PUBLISHED_BGNBD, **PUBLISHED_GAMMA_GAMMA}.items():
        assert relative_error(getattr(fit, name), expected) < TOLERANCE, name
    assert fit.bgnbd_loglik == pytest.approx(-9582.4, abs=0.1)
    assert fit.horizon_weeks == pytest.approx(39.0)
    # Customer 1 is the paper's example: x = 2, t_x = 30.43, T = 38.86 -> 1.226 in 39 weeks.
    example = ContactMetrics.objects.get(contact_id=ids["cdnow-1"])
    assert example.expected_purchases == pytest.approx(PUBLISHED_CONDITIONAL["expected"], abs=0.0005)
    params = clv.BGNBDParams(r=fit.r, alpha=fit.alpha, a=fit.a, b=fit.b)
    c = PUBLISHED_CONDITIONAL
    value = clv.bgnbd_expected_purchases(params, c["t"], [c["x"]], [c["t_x"]], [c["T"]])[0]
    assert value == pytest.approx(c["expected"], abs=0.0005)
    # Customer 1 bought 29.33 on 1997-01-01, 29.73 on 01-18 and 14.96 on 08-02 (12-12 is after as_of).
    assert example.historic_clv == Decimal("74.02")
    assert example.purchase_count == 3
    assert ContactMetrics.objects.filter(rfm_segment="").count() == 0
    assert ContactMetrics.objects.count() == PUBLISHED_CUSTOMERS


def _customer(purchases: list[tuple[dt.date, str]], *, refunds: list[tuple[dt.date, str]] = ()) -> Contact:
    contact = ContactFactory()
    for day, amount in purchases:
        TouchpointFactory(
            contact=contact,
            kind="purchase",
            amount=Decimal(amount),
            occurred_at=timezone.make_aware(dt.datetime.combine(day, dt.time(10))),
        )
    for day, amount in refunds:
        TouchpointFactory(
            contact=contact,
            kind="refund",
            amount=Decimal(amount),
            occurred_at=timezone.make_aware(dt.datetime.combine(day, dt.time(11))),
        )
    return contact


def test_small_sample_falls_back_to_historic_figures_and_says_so(settings):
    settings.CRM_MARGIN = 0.5
    as_of = dt.date(2024, 6, 30)
    buyer = _customer(
        [(dt.date(2024, 1, 5), "100.00"), (dt.date(2024, 1, 5), "20.00"), (dt.date(2024, 3, 1), "80.00")],
        refunds=[(dt.date(2024, 3, 2), "30.00")],
    )
    prospect = ContactFactory()
    result = customer_value_recompute(as_of=as_of)
    assert result.is_fallback
    fit = CLVModelFit.objects.get(pk=result.fit_id)
    assert fit.is_fallback and "Too few customers" in fit.note
    assert fit.r is None and fit.p is None
    assert fit.n_customers == 1
    metrics = ContactMetrics.objects.get(contact=buyer)
    # (200 - 30) x 0.5
    assert metrics.historic_clv == Decimal("85.00")
    assert metrics.predicted_clv == metrics.historic_clv
    assert metrics.expected_purchases is None and metrics.p_alive is None
    assert metrics.expected_spend == Decimal("100.00")  # 200 over two purchase days
    assert metrics.revenue == Decimal("170.00") and metrics.refunds == Decimal("30.00")
    assert metrics.purchase_count == 3
    assert metrics.first_purchase_at == timezone.make_aware(dt.datetime(2024, 1, 5, 10))
    assert metrics.last_purchase_at == timezone.make_aware(dt.datetime(2024, 3, 1, 10))
    assert metrics.recency_score is not None and metrics.rfm_segment
    assert not ContactMetrics.objects.filter(contact=prospect).exists()


def test_recompute_as_of_ignores_later_purchases_and_clears_former_customers():
    early = _customer([(dt.date(2024, 1, 10), "50.00")])
    late = _customer([(dt.date(2024, 8, 1), "70.00")])
    ContactMetrics.objects.create(contact=late, predicted_clv=Decimal("999.00"), rfm_segment="champions")
    customer_value_recompute(as_of=dt.date(2024, 6, 30))
    assert ContactMetrics.objects.get(contact=early).historic_clv == Decimal("50.00")
    cleared = ContactMetrics.objects.get(contact=late)
    assert cleared.predicted_clv is None and cleared.rfm_segment == "" and cleared.historic_clv == 0


def test_recompute_keeps_engine_owned_base_columns():
    contact = _customer([(dt.date(2024, 1, 10), "50.00")])
    ContactMetrics.objects.create(contact=contact, purchase_count=7, touch_count=42, revenue=Decimal("1.00"))
    customer_value_recompute(as_of=dt.date(2024, 6, 30))
    metrics = ContactMetrics.objects.get(contact=contact)
    assert (metrics.purchase_count, metrics.touch_count, metrics.revenue) == (7, 42, Decimal("1.00"))
    assert metrics.historic_clv == Decimal("50.00")
    assert metrics.rfm_segment != ""


def test_fitted_recompute_writes_predictions_consistent_with_the_models():
    sim = clv.simulate_customers(
        400,
        bgnbd=clv.BGNBDParams(r=0.5, alpha=8.0, a=0.8, b=2.5),
        gamma_gamma=clv.GammaGammaParams(p=6.0, q=4.0, gamma=15.0),
        max_age_days=300,
        seed=11,
    )
    as_of = dt.date(2024, 12, 31)
    contacts = ContactFactory.create_batch(len(sim))
    rows = []
    for contact, x, t_x, T, m in zip(contacts, sim.x, sim.t_x, sim.T, sim.m, strict=True):
        first = as_of - dt.timedelta(days=round(T * 7))
        days = [first]
        if x:
            last = first + dt.timedelta(days=round(t_x * 7))
            # x repeat days ending on `last`, one day apart backwards (all after `first`).
            days += [last - dt.timedelta(days=k) for k in range(int(x))]
        for k, day in enumerate(days):
            rows.append(
                {
                    "contact": contact.pk,
                    "kind": "purchase",
                    "occurred_at": day.isoformat(),
                    "amount": "20.00" if k == 0 else f"{m:.2f}",
                }
            )
    for start in range(0, len(rows), 1000):
        touchpoint_bulk_create(rows=rows[start : start + 1000], source="import", enqueue=False)

    result = customer_value_recompute(as_of=as_of, horizon_months=12, annual_discount_rate=0.0, margin=1.0)
    assert not result.is_fallback, result.note
    assert result.rows_written == len(sim)
    again = customer_value_recompute(as_of=as_of, horizon_months=12, annual_discount_rate=0.0, margin=1.0)
    assert again.rows_written == 0  # same inputs, same rounded outputs: no row rewritten
    fit = CLVModelFit.objects.get(pk=result.fit_id)
    # The scores come from the model the backtest chose, refitted on all data (issue 18).
    model = clv.MODELS[fit.model]
    params = model.params_from(fit.params)
    gg = clv.GammaGammaParams(p=fit.p, q=fit.q, gamma=fit.gamma)
    assert fit.details["spend"]["use_gamma_gamma"], fit.details["spend"]["reason"]
    # Recompute a few customers by hand from the model functions.
    for index in (0, 1, 2, 50, 399):
        metrics = ContactMetrics.objects.get(contact=contacts[index])
        x, t_x, T = sim.x[index], sim.t_x[index], sim.T[index]
        expected = model.expected_purchases(params, 52.0, [x], [t_x], [T])[0]
        assert metrics.expected_purchases == pytest.approx(expected, abs=1e-6)
        assert metrics.p_alive == pytest.approx(model.probability_alive(params, [x], [t_x], [T])[0], abs=1e-6)
        spend = clv.gamma_gamma_expected_spend(gg, [x], [round(sim.m[index], 2) if x else 0.0])[0]
        assert float(metrics.expected_spend) == pytest.approx(spend, abs=0.01)
        assert float(metrics.predicted_clv) == pytest.approx(spend * expected, abs=0.02)


def test_rfm_quintiles_and_segments_follow_ntile_order():
    as_of = dt.date(2024, 6, 30)
    contacts = []
    for k in range(10):
        # k-th customer: last purchase k*10 days before as_of, k+1 purchase days, spend grows with k.
        days = [as_of - dt.timedelta(days=10 * k + j * 1) for j in range(k + 1)]
        contacts.append(_customer([(day, f"{10 * (k + 1)}.00") for day in days]))
    customer_value_recompute(as_of=as_of)
    scores = {
        m.contact_id: (m.recency_score, m.frequency_score, m.monetary_score, m.rfm_segment)
        for m in ContactMetrics.objects.all()
    }
    # Ten customers in five tiles: two per tile. Most recent -> R 5, most frequent -> F 5.
    for k, contact in enumerate(contacts):
        r, f, m, segment = scores[contact.pk]
        assert r == 5 - k // 2
        assert f == 1 + k // 2
        assert m == 1 + k // 2
        assert segment == rfm_segment_for(r, f, m)
    assert scores[contacts[0].pk][3] == RfmSegment.NEW_CUSTOMERS
    assert scores[contacts[9].pk][3] == RfmSegment.CANT_LOSE


def test_rfm_segment_grid_names_every_score_combination_once():
    names = set()
    for r in range(1, 6):
        for fm in range(1, 6):
            matches = [seg for seg, rs, fms in RFM_SEGMENT_GRID if r in rs and fm in fms]
            assert len(matches) == 1, (r, fm)
            names.add(matches[0])
    assert names == set(RfmSegment)


def test_task_runs_the_recompute_and_latest_fit_has_public_shape():
    _customer([(dt.date(2024, 1, 10), "50.00")])
    out = customer_value_recompute_task.delay("2024-06-30").get()
    assert out["as_of"] == "2024-06-30" and out["is_fallback"]
    latest = clv_model_fit_latest()
    assert latest is not None and latest.pk == out["fit_id"]
    body = clv_model_fit_as_dict(latest)
    assert body["as_of"] == "2024-06-30" and body["n_customers"] == 1
    assert set(body["bgnbd"]) == {"r", "alpha", "a", "b", "loglik"}
    assert set(body["gamma_gamma"]) == {"p", "q", "gamma", "loglik"}


def test_recompute_issues_a_fixed_number_of_queries(django_assert_max_num_queries):
    for k in range(30):
        _customer([(dt.date(2024, 1, 1) + dt.timedelta(days=k), "10.00")])
    # aggregate, drop/create/insert temp, upsert, clear, drop, fit row + savepoints: never per contact.
    with django_assert_max_num_queries(12):
        customer_value_recompute(as_of=dt.date(2024, 6, 30))
    assert np.isclose(float(ContactMetrics.objects.first().historic_clv), 10.0)


def test_recompute_without_customers_stores_a_fallback_fit():
    ContactFactory()
    result = customer_value_recompute(as_of=dt.date(2024, 6, 30))
    assert result.is_fallback and result.n_customers == 0 and result.rows_written == 0
    assert CLVModelFit.objects.get(pk=result.fit_id).note.startswith("Too few customers")
