"""The overview's key figures as a fragment: the page never computes them, embeds them only when cached,
and `/overview/kpis/` renders them (bare for charts.js, a whole page without JavaScript)."""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import analytics.charts
import analytics.views
from analytics.kpis import KPI_LABELS, kpi_overview, overview_query_from_params
from analytics.views import KPIS_FAILED_TEXT
from stages.models import Stage
from tests.factories import CampaignFactory, ContactFactory, SegmentFactory

pytestmark = pytest.mark.django_db

FRAGMENT = {"HTTP_X_CRM_FRAGMENT": "1"}
# The tables the KPI queries read; the page itself must never touch them.
KPI_TABLES = ("contacts_touchpoint", "stages_stagetransition", "analytics_contactmetrics")


def _kpis_url() -> str:
    return reverse("web:overview_kpis")


def _kpi_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if any(table in q["sql"] for table in KPI_TABLES)]


def _counts(overview) -> dict[str, int]:
    return {sc.stage.slug: sc.count for sc in overview.stages}


def _card(overview, key: str):
    return next(k for k in overview.kpis if k.key == key)


@pytest.mark.parametrize(
    "params",
    [{}, {"period": "90d", "channel": "email"}, {"period": "365d", "campaign": "CAMPAIGN", "segment": "SEGMENT"}],
)
def test_cold_page_runs_no_kpi_query_and_shows_a_placeholder_of_the_cards(marketer_client, params):
    ContactFactory.create_batch(2, acquisition_channel="email")
    campaign, segment = CampaignFactory(), SegmentFactory(filters={"channel": ["email"]})
    params = {k: {"CAMPAIGN": str(campaign.pk), "SEGMENT": str(segment.pk)}.get(v, v) for k, v in params.items()}
    with CaptureQueriesContext(connection) as queries:
        response = marketer_client.get(reverse("web:overview"), params)
    assert response.status_code == 200
    assert _kpi_queries(queries.captured_queries) == []
    assert not any('FROM "contacts_contact"' in q["sql"] for q in queries.captured_queries)
    assert response.context["overview"] is None
    body = response.content.decode()
    match = re.search(r'<section class="kpi-block kpi-placeholder" id="overview-kpis"[^>]*>', body)
    assert match and 'aria-busy="true"' in match.group(0)
    src = f"{_kpis_url()}?{response.wsgi_request.GET.urlencode()}".replace("&", "&amp;").rstrip("?")
    assert f'data-kpis-src="{src}"' in match.group(0)
    # Same size as the cards: every card's label (with its definition) and every stage's name, each with a
    # still block for its number.
    for label in KPI_LABELS.values():
        assert re.search(rf'<div class="label">{re.escape(label)}\s*<details class="metric-def"', body), label
    for stage in Stage.objects.filter(is_active=True):
        assert stage.name in body
    assert "data-kpis-fragment" not in body
    assert body.count("Loading…") == 1 + len(analytics.charts.CHARTS)
    assert "key figures page</a>" in body  # the no-JavaScript way to the cards


def test_page_embeds_the_cards_when_they_are_cached_still_without_a_kpi_query(marketer_client):
    ContactFactory.create_batch(3)
    marketer_client.get(_kpis_url(), {"period": "90d"}, **FRAGMENT)  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        response = marketer_client.get(reverse("web:overview"), {"period": "90d"})
    assert _kpi_queries(queries.captured_queries) == []
    body = response.content.decode()
    assert "data-kpis-fragment" in body and "data-kpis-src" not in body
    assert _counts(response.context["overview"])["awareness"] == 3
    assert "Cards as of" in body
    # Another period is not cached: a placeholder again.
    other = marketer_client.get(reverse("web:overview"), {"period": "365d"})
    assert other.context["overview"] is None and "data-kpis-src" in other.content.decode()


def test_refresh_shows_the_placeholder_and_passes_refresh_to_the_fragment(marketer_client):
    ContactFactory()
    first = marketer_client.get(_kpis_url(), {"period": "90d"}, **FRAGMENT).context["overview"]
    ContactFactory()
    page = marketer_client.get(reverse("web:overview"), {"period": "90d", "refresh": "1"})
    assert page.context["overview"] is None
    assert f'data-kpis-src="{_kpis_url()}?period=90d&amp;refresh=1"' in page.content.decode()
    cached = marketer_client.get(_kpis_url(), {"period": "90d"}, **FRAGMENT).context["overview"]
    assert _counts(cached) == _counts(first) and _counts(first)["awareness"] == 1
    fresh = marketer_client.get(_kpis_url(), {"period": "90d", "refresh": "1"}, **FRAGMENT)
    assert _counts(fresh.context["overview"])["awareness"] == 2
    assert "refresh" not in fresh.context["filter_query"]


def test_fragment_answers_with_the_bare_block_of_cards_and_stage_counts(marketer_client):
    ContactFactory.create_batch(3)
    response = marketer_client.get(_kpis_url(), {"period": "90d"}, **FRAGMENT)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith("<section")
    assert "<html" not in body and "data-kpis-fragment" in body
    assert body.count('class="kpi"') == len(KPI_LABELS)
    assert _card(response.context["overview"], "new_contacts").value == 3
    assert f"{reverse('web:contact_list')}?stage=awareness" in body
    assert "X-CRM-Fragment" in response["Vary"]


def test_without_javascript_the_link_opens_a_whole_page_with_the_cards(marketer_client):
    ContactFactory.create_batch(2, acquisition_channel="email")
    response = marketer_client.get(_kpis_url(), {"period": "90d", "channel": "email"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and "data-kpis-fragment" in body and "Key figures" in body
    assert reverse("web:overview") + "?period=90d&amp;channel=email" in body  # back to the same view
    assert _card(response.context["overview"], "new_contacts").value == 2


def test_fragment_follows_the_filters_in_its_url(marketer_client):
    ContactFactory.create_batch(2, acquisition_channel="email")
    ContactFactory(acquisition_channel="referral")
    segment = SegmentFactory(filters={"channel": ["referral"]})
    email = marketer_client.get(_kpis_url(), {"period": "90d", "channel": "email"}, **FRAGMENT).context["overview"]
    assert _counts(email)["awareness"] == 2 and _card(email, "new_contacts").value == 2
    seg = marketer_client.get(_kpis_url(), {"period": "90d", "segment": segment.pk}, **FRAGMENT).context["overview"]
    assert _counts(seg)["awareness"] == 1
    old = marketer_client.get(_kpis_url(), {"start": "2000-01-01", "end": "2000-01-31"}, **FRAGMENT)
    assert _card(old.context["overview"], "new_contacts").value == 0


def test_bad_filters_are_explained_on_the_page_and_a_bad_segment_is_dropped(marketer_client):
    ContactFactory(acquisition_channel="email")
    ContactFactory(acquisition_channel="referral")
    page = marketer_client.get(reverse("web:overview"), {"period": "90d", "channel": "email", "segment": "999999"})
    assert page.status_code == 200 and "segment" in page.context["filter_errors"]
    body = page.content.decode()
    assert 'role="alert"' in body
    # The cards load for the other filters, without the segment.
    assert f'data-kpis-src="{_kpis_url()}?period=90d&amp;channel=email"' in body
    fragment = marketer_client.get(_kpis_url(), {"period": "90d", "channel": "email", "segment": "999999"}, **FRAGMENT)
    assert fragment.status_code == 200 and _counts(fragment.context["overview"])["awareness"] == 1
    no_js = marketer_client.get(_kpis_url(), {"period": "bogus", "segment": "999999"})
    assert no_js.status_code == 200 and set(no_js.context["filter_errors"]) == {"period", "segment"}
    assert 'class="form-errors"' in no_js.content.decode()


def test_a_failure_shows_its_message_and_try_again_in_the_box_and_is_not_cached(marketer_client, monkeypatch):
    ContactFactory()

    def broken(**kwargs):
        raise RuntimeError("the cards blew up")

    monkeypatch.setattr(analytics.views, "kpi_overview", broken)
    failed = marketer_client.get(_kpis_url(), {"period": "90d"}, **FRAGMENT)
    assert failed.status_code == 500
    body = failed.content.decode()
    assert "data-kpis-fragment" in body and "data-failed" in body and KPIS_FAILED_TEXT in body
    assert 'role="alert"' in body and "data-retry" in body and "Try again" in body
    assert "the cards blew up" not in body  # details go to the log, not to the page
    assert marketer_client.get(reverse("web:overview"), {"period": "90d"}).status_code == 200
    monkeypatch.undo()
    again = marketer_client.get(_kpis_url(), {"period": "90d"}, **FRAGMENT)
    assert again.status_code == 200 and _counts(again.context["overview"])["awareness"] == 1


def test_cards_of_another_period_equal_the_cards_computed_in_one_go(marketer_client):
    ContactFactory.create_batch(2, acquisition_channel="email")
    marketer_client.get(_kpis_url(), {"period": "30d", "channel": "email"}, **FRAGMENT)
    response = marketer_client.get(_kpis_url(), {"period": "365d", "channel": "email"}, **FRAGMENT)
    query, _ = overview_query_from_params({"period": "365d", "channel": "email"})
    whole = kpi_overview(query=query, user=None)
    shown = response.context["overview"]
    assert _counts(shown) == _counts(whole)
    assert [(k.key, k.value, k.previous) for k in shown.kpis] == [(k.key, k.value, k.previous) for k in whole.kpis]


def test_cards_are_cached_in_the_result_layer_for_the_dashboard_lifetime(marketer_client, settings, monkeypatch):
    import analytics.results

    settings.CRM_DASHBOARD_CACHE_SECONDS = 123
    written = []

    class RecordingCache:
        def get(self, key, default=None):
            return cache.get(key, default)

        def set(self, key, value, timeout):
            written.append((key.split(":")[2], timeout))
            cache.set(key, value, timeout)

    monkeypatch.setattr(analytics.results, "cache", RecordingCache())
    marketer_client.get(_kpis_url(), {"period": "30d"}, **FRAGMENT)
    assert written == [("kpis", 123)]  # one key family (results:<format>:<name>:...), one lifetime
    marketer_client.get(_kpis_url(), {"period": "30d"}, **FRAGMENT)
    assert written == [("kpis", 123)]


def test_placeholder_reserves_the_at_period_start_line_only_when_the_cards_will_have_it(marketer_client):
    from stages.models import StageSnapshot

    url = reverse("web:overview")
    assert "at period start" not in marketer_client.get(url, {"period": "30d"}).content.decode()
    query, _ = overview_query_from_params({"period": "30d"})
    day = (query.start - dt.timedelta(days=1)).date()
    StageSnapshot.objects.create(date=day, stage=Stage.objects.get(slug="awareness"), contacts=4)
    body = marketer_client.get(url, {"period": "30d"}).content.decode()
    assert body.count("at period start") == Stage.objects.filter(is_active=True).count()
    assert "at period start" not in marketer_client.get(url, {"period": "30d", "channel": "email"}).content.decode()
    # And the cards do show it then.
    cards = marketer_client.get(_kpis_url(), {"period": "30d"}, **FRAGMENT).content.decode()
    assert "4 at period start" in cards
