"""Money reports (cohort retention, churn, channel performance): local calendar boundaries and edge rows.

The statements group purchases per contact on truncated local months/days (cohort retention
also the first purchase the engine recorded) and apply the cohort horizon in Python; these pin
that behaviour in a non-UTC time zone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from analytics.reports.base import ReportFilters
from analytics.reports.channel_performance import ChannelPerformanceQuery, channel_performance_report
from analytics.reports.churn import ChurnQuery, churn_report
from analytics.reports.cohort_retention import CohortRetentionQuery, cohort_retention_report
from metrics.models import ContactMetrics
from tests.analytics.report_data import at, contacts_create, metrics_write, touchpoints_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.mark.usefixtures("berlin")
def test_cohort_months_are_local_and_cut_at_the_horizon():
    a, b = contacts_create(2)
    touchpoints_create(
        [
            (a.pk, "purchase", at(dt.date(2024, 2, 1), 0, 30), "10.00", None),  # 2024-01-31 23:30 UTC
            (a.pk, "purchase", at(dt.date(2024, 3, 1), 0, 10), "20.00", None),
            (a.pk, "purchase", at(dt.date(2024, 4, 15)), "30.00", None),
            (a.pk, "purchase", at(dt.date(2024, 6, 3)), "40.00", None),  # k = 4, beyond months=2
            (b.pk, "purchase", at(dt.date(2024, 1, 31), 23, 30), "5.00", None),
            (b.pk, "purchase", at(dt.date(2024, 2, 1), 0, 30), "6.00", None),
            (b.pk, "purchase", at(dt.date(2024, 2, 20)), "7.00", None),
        ]
    )
    metrics_write()  # the cohort is the month of the first purchase the engine recorded
    result = cohort_retention_report(CohortRetentionQuery(as_of=dt.date(2024, 6, 30), months=2))
    jan, feb = result.cohorts
    assert (jan.month, jan.size, jan.revenue) == ("2024-01", 1, Decimal("5.00"))
    assert [(x.k, x.customers, x.revenue) for x in jan.cells] == [
        (0, 1, Decimal("5.00")),
        (1, 1, Decimal("13.00")),
        (2, 0, Decimal("0.00")),
    ]
    assert (feb.month, feb.size, feb.revenue) == ("2024-02", 1, Decimal("10.00"))
    assert [(x.k, x.customers, x.revenue) for x in feb.cells] == [
        (0, 1, Decimal("10.00")),
        (1, 1, Decimal("20.00")),
        (2, 1, Decimal("30.00")),
    ]
    period = ReportFilters(period_start=dt.date(2024, 2, 1), period_end=dt.date(2024, 2, 29))
    only_feb = cohort_retention_report(CohortRetentionQuery(filters=period, as_of=dt.date(2024, 6, 30), months=2))
    assert [c.month for c in only_feb.cohorts] == ["2024-02"]
    assert only_feb.cohorts[0] == feb


@pytest.mark.usefixtures("berlin")
def test_churn_purchase_days_are_local():
    a, b = contacts_create(2)
    touchpoints_create(
        [
            # Two local days, one UTC day: a repeat customer with a one-day gap.
            (a.pk, "purchase", at(dt.date(2024, 1, 1), 23, 30), "10.00", None),
            (a.pk, "purchase", at(dt.date(2024, 1, 2), 0, 30), "10.00", None),
            # One local day, two UTC days: not a repeat customer.
            (b.pk, "purchase", at(dt.date(2024, 1, 5), 0, 30), "10.00", None),
            (b.pk, "purchase", at(dt.date(2024, 1, 5), 23, 30), "10.00", None),
            (b.pk, "purchase", at(dt.date(2024, 2, 1), 0, 30), "10.00", None),  # after as_of
        ]
    )
    result = churn_report(ChurnQuery(as_of=dt.date(2024, 1, 31), inactive_days=28))
    assert (result.customers, result.churned, result.repeat_customers) == (2, 1, 1)
    assert result.avg_days_between_purchases == 1.0
    later = ReportFilters(period_start=dt.date(2024, 1, 2))
    result = churn_report(ChurnQuery(filters=later, as_of=dt.date(2024, 1, 31), inactive_days=28))
    assert (result.customers, result.churned, result.repeat_customers) == (1, 0, 0)
    assert result.avg_days_between_purchases is None


@pytest.mark.parametrize("recent_days", [0, 10**6])
def test_channel_performance_refund_only_contact_and_as_of_cut(recent_days, monkeypatch):
    monkeypatch.setattr("analytics.reports.channel_performance.RECENT_DAYS", recent_days)
    a, b = contacts_create(2, acquisition_channel="email")
    touchpoints_create(
        [
            (a.pk, "purchase", at(dt.date(2024, 3, 1)), "100.00", None),
            (a.pk, "refund", at(dt.date(2025, 1, 2)), "30.00", None),  # after as_of
            (a.pk, "purchase", at(dt.date(2025, 1, 3)), "70.00", None),  # after as_of
            (b.pk, "refund", at(dt.date(2024, 3, 5)), "20.00", None),  # refund only: not a customer
        ]
    )
    ContactMetrics.objects.create(contact=a, predicted_clv=Decimal("50.00"))
    ContactMetrics.objects.create(contact=b, predicted_clv=Decimal("500.00"))
    metrics_write()  # as of a past day: the engine's present metrics less the money after it
    (email,) = channel_performance_report(ChannelPerformanceQuery(as_of=dt.date(2024, 12, 31))).channels
    assert (email.contacts, email.customers, email.revenue, email.avg_clv) == (2, 1, Decimal("80.00"), 50.0)


@pytest.mark.usefixtures("berlin")
def test_channel_performance_recent_splits_the_later_money_at_local_month_boundaries(monkeypatch):
    """As of a mid-month day: the rest of that month from the purchases, the later months from the rollup."""
    monkeypatch.setattr("analytics.reports.channel_performance.RECENT_DAYS", 10**6)
    (a,) = contacts_create(1, acquisition_channel="email")
    touchpoints_create(
        [
            (a.pk, "purchase", at(dt.date(2024, 11, 2)), "100.00", None),  # the first purchase, before the day
            (a.pk, "purchase", at(dt.date(2024, 11, 15), 23, 59), "1.00", None),  # on the as-of day: counted
            (a.pk, "purchase", at(dt.date(2024, 11, 16), 0, 0), "2.00", None),  # rest of the as-of month
            (a.pk, "purchase", at(dt.date(2024, 11, 30), 23, 30), "4.00", None),  # 22:30 UTC, still November
            (a.pk, "purchase", at(dt.date(2024, 12, 1), 0, 30), "8.00", None),  # 30 Nov 23:30 UTC: December here
            (a.pk, "purchase", at(dt.date(2025, 2, 3)), "16.00", None),  # a later month
            (a.pk, "refund", at(dt.date(2024, 12, 5)), "32.00", None),  # a later refund: added back
        ]
    )
    metrics_write()
    (email,) = channel_performance_report(ChannelPerformanceQuery(as_of=dt.date(2024, 11, 15))).channels
    assert (email.contacts, email.customers, email.revenue) == (1, 1, Decimal("101.00"))
    (email,) = channel_performance_report(ChannelPerformanceQuery(as_of=dt.date(2024, 11, 30))).channels
    assert email.revenue == Decimal("107.00")
    (email,) = channel_performance_report(ChannelPerformanceQuery(as_of=dt.date(2024, 12, 1))).channels
    assert email.revenue == Decimal("115.00")
    (email,) = channel_performance_report(ChannelPerformanceQuery(as_of=dt.date(2024, 11, 1))).channels
    assert (email.customers, email.revenue) == (0, Decimal("0.00"))
    (email,) = channel_performance_report(ChannelPerformanceQuery()).channels
    assert email.revenue == Decimal("131.00") - Decimal("32.00")
