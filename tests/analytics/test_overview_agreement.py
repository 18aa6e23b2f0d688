"""The overview's figures agree with their neighbours on demo data (issue 16: the contradictions found).

Each test reproduces one contradiction a new user saw on `seed_demo` data: figures that answer the
same question must be equal, and figures that answer different questions must carry different labels.
"""

import datetime as dt

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from analytics.catalogue import CATALOGUE
from analytics.charts import CHARTS_BY_KEY, chart_run
from analytics.kpis import kpi_overview, overview_query_from_params
from analytics.results import results_bypassed

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    cache.clear()
    call_command("seed_demo", "--contacts", "300", "--seed", "7", "--password", "pw-demo-1234", verbosity=0)


def _cards(period: str) -> dict:
    query, errors = overview_query_from_params({"period": period})
    assert not errors
    return {k.key: k for k in kpi_overview(query=query, user=None).kpis}, query


def _chart(key: str, query):
    with results_bypassed():
        result = chart_run(CHARTS_BY_KEY[key], query)
    assert result.data is not None, result.unavailable
    return result.data


@pytest.mark.parametrize("period", ["30d", "365d"])
def test_funnel_purchase_step_equals_the_conversion_of_new_contacts(demo, period):
    """Was "Conversion to customer 3.8 %" beside the funnel's "Purchase 3 (2.8 %)": a buyer who skipped the
    Purchase stage (straight into Retention) was not counted at Purchase."""
    cards, query = _cards(period)
    funnel = _chart("funnel", query)
    purchase = next(row for row in funnel.rows if row[0] == "Purchase")
    new_contacts, conversion = cards["new_contacts"].value, cards["conversion"].value
    assert funnel.rows[0][1] == new_contacts  # the demo's contacts enter the lifecycle the day they are created
    assert purchase[1] == round(conversion * new_contacts)
    assert purchase[3] == pytest.approx(conversion)
    # Later steps never exceed earlier ones (reached this stage or a later one).
    reached = [row[1] for row in funnel.rows]
    assert reached == sorted(reached, reverse=True)


def test_first_purchases_and_conversion_have_different_labels_and_definitions(demo):
    """Was "New customers 32" beside "Conversion to customer 3.8 %": two questions under look-alike labels."""
    cards, _ = _cards("30d")
    first, conversion = cards["new_customers"], cards["conversion"]
    assert first.label != conversion.label
    assert "whenever they were acquired" in first.metric.definition
    assert "created in the period" in conversion.metric.definition
    assert first.metric.key != conversion.metric.key


@pytest.mark.parametrize("period", ["30d", "365d"])
def test_clv_chart_mean_equals_the_average_predicted_clv_card(demo, period):
    """Was "Average predicted CLV 417.79" beside the CLV chart's "mean 1,009": the chart counted only the
    customers whose first purchase fell in the period."""
    call_command("recompute_lifecycle", verbosity=0)
    cards, query = _cards(period)
    with results_bypassed():
        from analytics.charts import _clv
        from analytics.reports import clv_distribution
        from analytics.reports.clv_distribution import CLVDistributionQuery, clv_distribution_report

        data = _clv(clv_distribution, query)
        whole = clv_distribution_report(CLVDistributionQuery())
    card = cards["predicted_clv"].value
    assert card is not None and whole.mean is not None
    assert float(card) == pytest.approx(whole.mean, abs=0.005)
    assert sum(row[1] for row in data.rows) == whole.customers
    assert f"mean {CATALOGUE['kpi.avg_predicted_clv'].format(card)}" in data.caption


def test_cohort_heatmap_marks_the_unfinished_month_partial(demo):
    """Was 0 % for the month not over yet, read as a collapse of retention."""
    _, query = _cards("30d")
    data = _chart("cohorts", query)
    today = timezone.localdate()
    unfinished = (today + dt.timedelta(days=1)).day != 1
    assert data.partial if unfinished else not data.partial
    this_month = f"{today.year:04d}-{today.month:02d}"
    for row, column in data.partial:
        cohort = data.rows[row][0]
        k = column - 2
        year, month = map(int, cohort.split("-"))
        index = year * 12 + month - 1 + k
        assert f"{index // 12:04d}-{index % 12 + 1:02d}" == this_month
    cells = data.series["cells"]
    assert all(len(cell) == 4 for cell in cells)
    assert any(cell[3] for cell in cells) == unfinished


def test_at_risk_filter_is_labelled_for_what_it_selects(marketer):
    """The contact list's "At risk only" box also selected customers of other stages with a low P(alive)."""
    from django.test import Client

    client = Client()
    client.force_login(marketer)
    body = client.get("/contacts/").content.decode()
    assert "At risk only" not in body
    assert "Slipping away" in body and "P(alive) is below the at-risk threshold" in body
