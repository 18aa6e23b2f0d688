"""One format for money and dates on the overview, date inputs in the user's locale, the true period end."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from analytics.kpis import overview_query_from_params, parse_day
from lifecycle_crm.formats import format_date, format_money

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_the_period_end_shown_is_the_last_day_not_tomorrow(marketer_client):
    body = marketer_client.get(reverse("web:overview"), {"period": "30d"}).content.decode()
    today = format_date(timezone.localdate())
    tomorrow = format_date(timezone.localdate() + dt.timedelta(days=1))
    assert f"\u2013 {today}," in body
    assert tomorrow not in body


@time_machine.travel(NOW, tick=False)
def test_a_custom_period_ends_on_the_day_typed():
    query, errors = overview_query_from_params({"period": "custom", "start": "2026-11-01", "end": "2026-11-30"})
    assert not errors
    assert (query.first_day, query.last_day) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


@pytest.mark.parametrize(
    ("language", "typed", "day"),
    [
        ("en-us", "11/30/2026", dt.date(2026, 11, 30)),
        ("en-gb", "30/11/2026", dt.date(2026, 11, 30)),
        ("de", "30.11.2026", dt.date(2026, 11, 30)),
        ("en-gb", "2026-11-30", dt.date(2026, 11, 30)),  # ISO always works
    ],
)
def test_date_inputs_accept_the_users_locale(language, typed, day):
    with translation.override(language):
        assert parse_day(typed) == day
        query, errors = overview_query_from_params({"start": typed, "end": typed})
    assert not errors and query.period == "custom" and query.last_day == day


def test_an_unreadable_date_is_an_error_that_shows_the_expected_form():
    with translation.override("en-gb"):
        query, errors = overview_query_from_params({"start": "31/31/2026", "end": "01/12/2026"})
    assert "period" in errors and "/" in errors["period"] and query.period != "custom"


@time_machine.travel(NOW, tick=False)
def test_locale_of_the_browser_sets_the_inputs_and_number_format(marketer_client):
    body = marketer_client.get(
        reverse("web:overview"), {"start": "30/11/2026", "end": "05/12/2026"}, HTTP_ACCEPT_LANGUAGE="en-GB"
    ).content.decode()
    assert 'value="30/11/2026"' in body and 'value="05/12/2026"' in body
    assert 'value="custom" selected' in body
    with translation.override("de"):
        assert format_money(Decimal("1441.52")) == "1.441,52 USD"
