"""The customer-value service with three purchase models (issue 18): CDNOW through import and recompute, demo data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils.timezone import localtime

from analytics.models import CLVBacktest, CLVFitKind, CLVModelFit
from analytics.selectors import clv_model_fit_latest
from analytics.services import customer_value_recompute
from metrics.models import ContactMetrics
from tests.analytics.cdnow import CALIBRATION_END, TOLERANCE, import_cdnow, relative_error

HOLDOUT_END = dt.date(1998, 6, 30)
# lifetimes 0.11.3 on CDNOW (shared/data/README.md): parameters, holdout forecast, per-customer MAE,
# mean P(alive) of one-time buyers at the calibration end.
REFERENCE = {
    "bgnbd": ({"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}, 1653.4, 0.7855, 1.00),
    "mbgnbd": ({"r": 0.5248, "alpha": 6.1831, "a": 0.8914, "b": 1.6140}, 1576.7, 0.7648, 0.41),
    "pareto_nbd": ({"r": 0.5533, "alpha": 10.5776, "s": 0.6063, "beta": 11.6712}, 1665.5, 0.7545, 0.34),
}


@pytest.mark.django_db
def test_cdnow_through_import_and_recompute_backtests_every_model_like_the_reference(tmp_path, settings):
    settings.CRM_CLV_MODEL = "auto"
    import_cdnow(tmp_path)
    result = customer_value_recompute(as_of=HOLDOUT_END, calibration_end=CALIBRATION_END, horizon_months=9)
    assert not result.is_fallback, result.note

    backtest = CLVBacktest.objects.get()
    assert (backtest.calibration_end, backtest.holdout_end) == (CALIBRATION_END, HOLDOUT_END)
    assert backtest.n_customers == 2357 and backtest.actual_total == 1882
    rows = {row.model: row for row in CLVModelFit.objects.filter(kind=CLVFitKind.BACKTEST, backtest=backtest)}
    assert set(rows) == set(REFERENCE)
    for name, (params, forecast, mae, _alive) in REFERENCE.items():
        row = rows[name]
        for key, expected in params.items():
            assert relative_error(row.params[key], expected) < TOLERANCE, (name, key)
        assert relative_error(row.holdout_predicted, forecast) < 0.01, name
        assert row.holdout_mae == pytest.approx(mae, abs=0.001), name
        assert row.holdout_actual == 1882 and row.n_customers == 2357 and row.loglik < 0

    # The smallest holdout error chose Pareto/NBD; the live row says so, refitted on all data.
    live = clv_model_fit_latest()
    assert live.pk == result.fit_id and live.kind == CLVFitKind.LIVE
    assert live.model == "pareto_nbd" and live.backtest_id == backtest.pk
    assert "Pareto/NBD" in live.details["choice"]["reason"]
    assert live.holdout_mae == pytest.approx(0.7545, abs=0.001)
    assert set(live.details["models"]) == set(REFERENCE)
    assert all(v is not None and v > 0 for v in live.standard_errors.values())
    # BG/NBD's columns (the public API's `bgnbd`) are still filled on the live row.
    assert live.r is not None and live.bgnbd_loglik is not None


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(REFERENCE))
def test_cdnow_one_time_buyers_p_alive_under_each_pinned_model(tmp_path, settings, name):
    settings.CRM_CLV_MODEL = name
    import_cdnow(tmp_path)
    result = customer_value_recompute(as_of=CALIBRATION_END, horizon_months=9)
    assert not result.is_fallback, result.note
    fit = CLVModelFit.objects.get(pk=result.fit_id)
    assert fit.model == name and "pinned" in fit.details["choice"]["reason"]
    for key, expected in REFERENCE[name][0].items():
        assert relative_error(fit.params[key], expected) < TOLERANCE, key
    # One-time buyers: a single purchase day (same-day purchases merge), x = 0.
    rows = ContactMetrics.objects.values_list("first_purchase_at", "last_purchase_at", "p_alive")
    one_time = np.array([p for first, last, p in rows if localtime(first).date() == localtime(last).date()])
    assert one_time.size == 1411
    assert one_time.mean() == pytest.approx(REFERENCE[name][3], abs=0.01)
    # The interval brackets every customer's predicted CLV.
    rows = ContactMetrics.objects.values_list("predicted_clv_low", "predicted_clv", "predicted_clv_high")
    assert all(low <= mid <= high for low, mid, high in rows)
