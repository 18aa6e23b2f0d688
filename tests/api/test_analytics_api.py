"""Analytics endpoints: one per report module, parameters validated to 400, and the CLV model fit."""

import datetime as dt

import pytest

from analytics.api.views import discover_reports
from analytics.models import CLVModelFit
from tests.factories import ContactFactory, stage

REPORTS = [spec.name for spec in discover_reports()]


def test_clv_model_is_404_with_a_message_before_any_fit(marketer_client):
    response = marketer_client.get("/api/v1/analytics/clv/model/")
    assert response.status_code == 404
    assert "No CLV model" in response.json()["detail"]


def test_clv_model_returns_the_latest_fit(marketer_client):
    CLVModelFit.objects.create(as_of=dt.date(2026, 1, 1), n_customers=10, r=1.0)
    CLVModelFit.objects.create(
        as_of=dt.date(2026, 2, 1),
        n_customers=2357,
        r=0.243,
        alpha=4.414,
        a=0.793,
        b=2.426,
        bgnbd_loglik=-9582.4,
        p=6.25,
        q=3.74,
        gamma=15.44,
        gg_loglik=-4000.0,
    )
    body = marketer_client.get("/api/v1/analytics/clv/model/").json()
    assert body["as_of"] == "2026-02-01" and body["n_customers"] == 2357
    assert body["bgnbd"] == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "loglik": -9582.4}
    assert body["gamma_gamma"] == {"p": 6.25, "q": 3.74, "gamma": 15.44, "loglik": -4000.0}


@pytest.mark.parametrize("report", REPORTS)
def test_every_report_module_has_an_endpoint_that_answers(marketer_client, report):
    ContactFactory.create_batch(3, stage=stage("engagement"))
    response = marketer_client.get(f"/api/v1/analytics/{report}/")
    assert response.status_code == 200, response.content
    assert isinstance(response.json(), dict)


def test_public_aliases_exist(marketer_client):
    assert "funnel" in REPORTS
    assert marketer_client.get("/api/v1/analytics/retention/").status_code == 200
    assert marketer_client.get("/api/v1/analytics/flow/").status_code == 200


def test_funnel_reports_its_steps(marketer_client):
    ContactFactory.create_batch(2, stage=stage("awareness"))
    body = marketer_client.get("/api/v1/analytics/funnel/?ordered=false").json()
    assert body["steps"][0]["stage"] == "awareness" and body["steps"][0]["reached"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period_start=yesterday", "period_start"),
        ("period_start=2026-05-01&period_end=2026-01-01", "period_end"),
        ("channel=pigeon", "channel"),
        ("owner=0", "owner"),
        ("segment=99999999999999999999999", "segment"),
        ("as_of=9999-12-31", "as_of"),
        ("conversion_window_days=0", "conversion_window_days"),
    ],
)
def test_bad_report_parameters_are_400_naming_the_parameter(marketer_client, query, field):
    response = marketer_client.get(f"/api/v1/analytics/funnel/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
