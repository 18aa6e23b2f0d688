"""The CLV model page, its CSVs and the model/backtest API (issue 18)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from analytics.clv_model_page import guidance
from analytics.models import CLVBacktest, CLVModelFit
from analytics.services import customer_value_recompute
from metrics.models import ContactMetrics
from tests.analytics.cdnow import CALIBRATION_END, import_cdnow

HOLDOUT_END = dt.date(1998, 6, 30)


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def cdnow_fitted(db, tmp_path, settings):
    settings.CRM_CLV_MODEL = "auto"
    import_cdnow(tmp_path)
    result = customer_value_recompute(as_of=HOLDOUT_END, calibration_end=CALIBRATION_END, horizon_months=9)
    assert not result.is_fallback
    return CLVModelFit.objects.get(pk=result.fit_id)


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_model_page_shows_choice_charts_parameters_and_guidance(cdnow_fitted, marketer):
    client = _web(marketer)
    page = client.get("/analytics/clv/model/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Pareto/NBD scores your customers" in html
    assert "smallest error per customer" in html
    assert "Tested on the last 39 weeks" in html and "1,882" in html
    for key in ("tracking", "by_frequency", "p_alive"):
        assert f'data-clv-chart="{key}"' in html
    assert "vendor/echarts/echarts.min.js" in html and "cdn" not in html.lower()
    charts = json.loads(re.search(r'<script id="clv-chart-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert charts["tracking"]["split"] >= CALIBRATION_END.isoformat()
    assert [line["name"] for line in charts["tracking"]["lines"]] == ["Actual", "BG/NBD", "MBG/NBD", "Pareto/NBD"]
    # Every chart has its CSV, with the numbers the chart draws.
    tracking = _csv(client.get("/analytics/clv/model/tracking.csv"))
    assert tracking[0] == ["Week ending", "Period", "Actual", "BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert {row[1] for row in tracking[1:]} == {"calibration", "holdout"}
    by_freq = _csv(client.get("/analytics/clv/model/by_frequency.csv"))
    assert by_freq[-1][0] == "7+" and sum(float(row[2]) for row in by_freq[1:]) == 1882
    p_alive = _csv(client.get("/analytics/clv/model/p_alive.csv"))
    assert p_alive[1][0] == "1 purchase day" and len(p_alive) == 12
    params = _csv(client.get("/analytics/clv/model/parameters.csv"))
    chosen = [row for row in params[1:] if row[1] == "yes"]
    assert [row[2] for row in chosen] == ["r", "alpha", "s", "beta"]
    assert all(float(row[4]) > 0 for row in chosen)
    assert client.get("/analytics/clv/model/nope.csv").status_code == 404


def test_model_api_keeps_its_fields_and_adds_the_choice_and_errors(cdnow_fitted, marketer):
    body = _api(marketer).get("/api/v1/analytics/clv/model/").json()
    # The public contract of issue 4 stays.
    for key in ("as_of", "n_customers", "n_repeat_customers", "is_fallback", "bgnbd", "gamma_gamma"):
        assert key in body
    assert set(body["bgnbd"]) == {"r", "alpha", "a", "b", "loglik"}
    assert body["model"] == "pareto_nbd" and body["model_label"] == "Pareto/NBD"
    assert set(body["params"]) == {"r", "alpha", "s", "beta"}
    assert set(body["standard_errors"]) == {"r", "alpha", "s", "beta"}
    assert body["holdout"]["actual"] == 1882
    assert set(body["models"]) == {"bgnbd", "mbgnbd", "pareto_nbd"}
    assert body["spend"]["use_gamma_gamma"] is True
    assert any("39 weeks" in line for line in body["guidance"])

    backtest = _api(marketer).get("/api/v1/analytics/clv/backtest/").json()
    assert backtest["calibration_end"] == "1997-09-30" and backtest["actual_total"] == 1882
    assert backtest["chosen_model"] == "pareto_nbd"
    assert backtest["models"]["mbgnbd"]["mae"] == pytest.approx(0.7648, abs=0.001)
    assert backtest["tracking"]["lines"][0]["name"] == "Actual"


def test_model_page_and_backtest_before_any_fit(marketer):
    page = _web(marketer).get("/analytics/clv/model/")
    assert page.status_code == 200 and "No model has been fitted yet" in page.content.decode()
    assert _web(marketer).get("/analytics/clv/model/tracking.csv").status_code == 404
    response = _api(marketer).get("/api/v1/analytics/clv/backtest/")
    assert response.status_code == 404 and "No CLV backtest" in response.json()["detail"]


def test_model_page_is_for_marketers(rep):
    assert _web(rep).get("/analytics/clv/model/").status_code == 403
    assert _web(rep).get("/analytics/clv/model/parameters.csv").status_code == 403


def test_the_overview_clv_chart_links_to_the_model_page(cdnow_fitted, marketer):
    html = _web(marketer).get("/overview/charts/clv/").content.decode()
    assert 'href="/analytics/clv/model/"' in html


def test_contact_api_metrics_carry_the_clv_interval(cdnow_fitted, marketer):
    row = ContactMetrics.objects.filter(predicted_clv__gt=10).order_by("contact_id").first()
    body = _api(marketer).get(f"/api/v1/contacts/{row.contact_id}/").json()
    metrics = body["metrics"]
    assert metrics["predicted_clv"] == f"{row.predicted_clv:.2f}"
    low, mid, high = (float(metrics[k]) for k in ("predicted_clv_low", "predicted_clv", "predicted_clv_high"))
    assert low <= mid <= high and low < high


def test_guidance_says_why_the_spend_model_was_refused_and_how_good_the_forecast_was():
    fit = CLVModelFit(
        as_of=HOLDOUT_END,
        n_customers=3000,
        n_repeat_customers=371,
        model="pareto_nbd",
        details={
            "choice": {"reason": "Pareto/NBD had the smallest error per customer on the holdout."},
            "models": {
                "pareto_nbd": {
                    "params": {"r": 1, "alpha": 1, "s": 1, "beta": 30},
                    "standard_errors": {"r": 0.1, "alpha": 0.1, "s": 0.2, "beta": 18.9},
                }
            },
            "spend": {"use_gamma_gamma": False, "reason": "Gamma-Gamma implies a mean spend of 707 per purchase."},
        },
    )
    backtest = CLVBacktest(
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
        actual_total=353,
        result={
            "holdout_weeks": 25,
            "models": {"pareto_nbd": {"predicted_total": 315, "total_error": -0.108, "mae": 0.773}},
        },
    )
    lines = guidance(fit, backtest)
    assert lines[0].startswith("Pareto/NBD had the smallest error")
    assert any("forecast 315 repeat purchases; customers made 353 (-11%)" in line for line in lines)
    assert any(line.startswith("Totals are roughly right") for line in lines)
    assert any("Only 371 customers bought twice" in line for line in lines)
    assert any("poorly determined (beta)" in line for line in lines)
    assert any("mean spend of 707" in line and "typical purchase" in line for line in lines)
