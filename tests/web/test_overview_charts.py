"""The overview's charts, loaded one by one: the fragment endpoint, its per-chart cache and the CSV read from it."""

import datetime as dt
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.charts import CHARTS, CHARTS_BY_KEY
from analytics.views import FAILED_TEXT
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

FRAGMENT = {"HTTP_X_CRM_FRAGMENT": "1"}


def _chart_url(key: str) -> str:
    return reverse("web:overview_chart", args=[key])


def _series(body: str, key: str) -> dict:
    match = re.search(rf'<script id="chart-series-{key}" type="application/json">(.*?)</script>', body, re.S)
    assert match, f"no series JSON for {key}"
    return json.loads(match.group(1))


@pytest.mark.parametrize("key", [spec.key for spec in CHARTS])
def test_each_chart_answers_with_its_own_box_table_csv_link_and_series(marketer_client, key):
    ContactFactory.create_batch(3, acquisition_channel="email")
    response = marketer_client.get(_chart_url(key), {"period": "90d"}, **FRAGMENT)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith("<section")  # the bare box charts.js inserts, not a whole page
    assert "<html" not in body
    assert f'data-chart-fragment="{key}"' in body
    assert CHARTS_BY_KEY[key].title in body
    chart = response.context["chart"]
    assert chart.spec.key == key and chart.computed_at is not None
    if chart.data is not None and not chart.data.is_empty:
        assert "<table>" in body
        assert reverse("web:chart_csv", args=[key]) + "?period=90d" in body
        if chart.spec.kind != "table":
            assert _series(body, key)["kind"] == chart.spec.kind
    assert "X-CRM-Fragment" in response["Vary"]


def test_funnel_and_channels_boxes_hold_the_numbers_of_the_data(marketer_client):
    ContactFactory.create_batch(2, acquisition_channel="email")
    ContactFactory(acquisition_channel="referral")
    funnel = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT)
    items = {i["name"]: i["value"] for i in _series(funnel.content.decode(), "funnel")["items"]}
    assert items["Awareness"] == 3
    channels = marketer_client.get(_chart_url("channels"), {"period": "90d"}, **FRAGMENT).context["chart"]
    assert {row[0]: row[1] for row in channels.data.rows} == {"Email": 2, "Referral": 1}


def test_chart_follows_the_filters_in_its_url(marketer_client):
    ContactFactory.create_batch(2, acquisition_channel="email")
    ContactFactory(acquisition_channel="referral")
    chart = marketer_client.get(_chart_url("channels"), {"period": "90d", "channel": "email"}, **FRAGMENT)
    assert {row[0]: row[1] for row in chart.context["chart"].data.rows} == {"Email": 2}
    assert "channel=email" in chart.content.decode()  # its CSV link keeps the filter
    short = marketer_client.get(_chart_url("funnel"), {"start": "2000-01-01", "end": "2000-01-31"}, **FRAGMENT)
    assert short.context["chart"].data.is_empty
    assert "Widen the period or clear a filter." in short.content.decode()


def test_unknown_chart_is_404_for_the_fragment_and_the_csv(marketer_client):
    assert marketer_client.get(_chart_url("nothing"), **FRAGMENT).status_code == 404
    assert marketer_client.get(reverse("web:chart_csv", args=["nothing"])).status_code == 404


@pytest.mark.parametrize(
    "url", [reverse("web:overview_chart", args=["funnel"]), reverse("web:overview_kpis")], ids=["chart", "kpis"]
)
def test_overview_fragments_are_for_marketing_roles_only(
    url, admin_client, marketer_client, rep_client, outsider_client, client
):
    """Both kinds of overview block, a chart and the KPI cards: the overview's own access rule."""
    assert admin_client.get(url, **FRAGMENT).status_code == 200
    assert marketer_client.get(url, **FRAGMENT).status_code == 200
    assert rep_client.get(url, **FRAGMENT).status_code == 403
    assert outsider_client.get(url, **FRAGMENT).status_code == 403
    anonymous = client.get(url, **FRAGMENT)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_without_javascript_the_chart_link_opens_a_whole_page_with_its_table(marketer_client):
    ContactFactory.create_batch(2)
    response = marketer_client.get(_chart_url("funnel"), {"period": "90d", "channel": "organic_search"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and 'data-chart-fragment="funnel"' in body and "<table>" in body
    assert '<details class="data" open>' in body  # the table shows without a click (no chart without JS)
    assert reverse("web:overview") + "?period=90d&amp;channel=organic_search" in body  # back to the same view


def test_page_shows_a_placeholder_per_chart_with_no_javascript_links(marketer_client):
    response = marketer_client.get(reverse("web:overview"), {"period": "90d", "channel": "email"})
    body = response.content.decode()
    for spec in CHARTS:
        src = f'data-chart-src="{_chart_url(spec.key)}?period=90d&amp;channel=email"'
        assert src in body, spec.key
        assert f"{reverse('web:chart_csv', args=[spec.key])}?period=90d&amp;channel=email" in body
    assert body.count("Loading…") == len(CHARTS) + 1  # and one for the key figures
    assert "<noscript>" in body


def test_refreshing_the_page_refreshes_its_charts_but_not_its_links(marketer_client):
    body = marketer_client.get(reverse("web:overview"), {"period": "90d", "refresh": "1"}).content.decode()
    assert f'data-chart-src="{_chart_url("funnel")}?period=90d&amp;refresh=1"' in body
    assert f'{reverse("web:chart_csv", args=["funnel"])}?period=90d"' in body


def test_each_chart_is_cached_on_its_own_key_and_refresh_recomputes_it(marketer_client):
    ContactFactory()
    first = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT).context["chart"]
    ContactFactory()
    cached = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT).context["chart"]
    assert cached.computed_at == first.computed_at
    assert cached.data.rows == first.data.rows and first.data.rows[0][1] == 1
    # Another chart of the same filters was not computed with it: it sees both contacts.
    channels = marketer_client.get(_chart_url("channels"), {"period": "90d"}, **FRAGMENT).context["chart"]
    assert channels.data.rows[0][1] == 2
    # Other filters are another key.
    other = marketer_client.get(_chart_url("funnel"), {"period": "365d"}, **FRAGMENT).context["chart"]
    assert other.data.rows[0][1] == 2
    fresh = marketer_client.get(_chart_url("funnel"), {"period": "90d", "refresh": "1"}, **FRAGMENT).context["chart"]
    assert fresh.data.rows[0][1] == 2 and fresh.computed_at > first.computed_at


def test_a_chart_from_the_nightly_snapshot_says_when_it_was_computed_and_refresh_computes_it_live(marketer_client):
    from django.core.cache import cache

    from analytics.charts import chart_run
    from analytics.kpis import overview_query_from_params
    from analytics.models import ReportSnapshot
    from analytics.results import results_recording

    ContactFactory()
    query, _ = overview_query_from_params({"period": "90d"})
    with results_recording():
        chart_run(CHARTS_BY_KEY["funnel"], query)  # what the nightly refresh stores
    recorded = ReportSnapshot.objects.get(report="funnel")
    earlier = recorded.computed_at - dt.timedelta(minutes=30)
    ReportSnapshot.objects.filter(pk=recorded.pk).update(computed_at=earlier)
    ContactFactory()  # after the snapshot
    cache.clear()
    shown = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT)
    chart = shown.context["chart"]
    assert chart.data.rows[0][1] == 1 and chart.computed_at == earlier
    assert f"As of {timezone.localtime(earlier):%H:%M}".encode() in shown.content
    fresh = marketer_client.get(_chart_url("funnel"), {"period": "90d", "refresh": "1"}, **FRAGMENT).context["chart"]
    assert fresh.data.rows[0][1] == 2 and fresh.computed_at > chart.computed_at


def test_csv_has_exactly_the_numbers_the_chart_showed_from_its_cache(marketer_client):
    ContactFactory.create_batch(2)
    shown = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT).context["chart"]
    ContactFactory.create_batch(5)  # not in the cached chart, so not in its CSV either
    response = marketer_client.get(reverse("web:chart_csv", args=["funnel"]), {"period": "90d"})
    lines = response.content.decode().strip().splitlines()
    assert lines[0].split(",") == [column.title for column in shown.data.columns]
    assert lines[1].split(",")[:2] == ["Awareness", "2"]
    assert len(lines) == 1 + len(shown.data.rows)


def test_a_failing_report_shows_its_message_in_its_own_box_only(marketer_client, monkeypatch):
    ContactFactory()

    def broken(mod, query):
        raise RuntimeError("the report blew up")

    monkeypatch.setattr(CHARTS_BY_KEY["funnel"], "build", broken)
    failed = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT)
    assert failed.status_code == 500
    body = failed.content.decode()
    assert 'data-chart-fragment="funnel"' in body and FAILED_TEXT in body and 'role="alert"' in body
    assert f'href="{_chart_url("funnel")}?period=90d" data-retry>Try again</a>' in body  # charts.js reloads the box
    assert "the report blew up" not in body  # details go to the log, not to the page
    assert marketer_client.get(_chart_url("channels"), {"period": "90d"}, **FRAGMENT).status_code == 200
    assert marketer_client.get(reverse("web:overview"), {"period": "90d"}).status_code == 200
    # The failure was not cached: once the report works again, the chart is computed.
    monkeypatch.undo()
    again = marketer_client.get(_chart_url("funnel"), {"period": "90d"}, **FRAGMENT)
    assert again.status_code == 200 and again.context["chart"].data.rows[0][1] == 1


def test_a_bad_segment_shows_its_message_in_the_chart_box(marketer_client):
    response = marketer_client.get(_chart_url("funnel"), {"period": "90d", "segment": "999999"}, **FRAGMENT)
    assert response.status_code == 200
    assert response.context["chart"].unavailable
    assert 'class="unavailable"' in response.content.decode()
