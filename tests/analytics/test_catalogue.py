"""The metric catalogue covers every figure shown: KPI cards, chart tables (and CSV), analytics API fields.

The walks render what a marketer and an integration really get (the KPI fragment, every chart
fragment, every analytics endpoint's JSON) on demo data, and fail on a figure without an entry.
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from analytics.api.views import discover_reports
from analytics.catalogue import BY_API_FIELD, CATALOGUE, METRICS, Unit, metrics_markdown
from analytics.charts import CHARTS
from analytics.views import FRAGMENT_HEADER
from lifecycle_crm.formats import format_money, format_percent

pytestmark = pytest.mark.django_db

METRICS_MD = Path(__file__).resolve().parents[2] / "docs" / "METRICS.md"


@pytest.fixture
def demo(db):
    cache.clear()
    call_command("seed_demo", "--contacts", "200", "--seed", "3", "--password", "pw-demo-1234", verbosity=0)


def test_metrics_md_is_generated_from_the_catalogue():
    """docs/METRICS.md is stale when it differs from the catalogue: run `python manage.py metrics_docs`."""
    assert METRICS_MD.read_text(encoding="utf-8") == metrics_markdown()


def test_metrics_docs_check_fails_on_a_stale_file(tmp_path):
    from django.core.management.base import CommandError

    stale = tmp_path / "METRICS.md"
    stale.write_text("# Metrics\n", encoding="utf-8")
    with pytest.raises(CommandError, match="stale"):
        call_command("metrics_docs", "--check", "--output", str(stale))
    call_command("metrics_docs", "--output", str(stale))
    call_command("metrics_docs", "--check", "--output", str(stale))


def test_every_catalogue_entry_is_complete_and_labels_are_unique_per_question():
    keys = [m.key for m in METRICS]
    assert len(keys) == len(set(keys))
    for entry in METRICS:
        assert entry.label and entry.definition and entry.population, entry.key
    # Two figures that answer different questions never share a label (shown side by side they would
    # read as the same number). The only shared labels are one question shown whole and per channel.
    by_label: dict[str, list[str]] = {}
    for entry in METRICS:
        if entry.unit not in (Unit.LABEL, Unit.FLAG):
            by_label.setdefault(entry.label, []).append(entry.key)
    shared = {label: keys for label, keys in by_label.items() if len(keys) > 1}
    assert shared == {
        "New contacts": ["kpi.new_contacts", "channel.contacts"],
        "Conversion of new contacts": ["kpi.new_contact_conversion", "channel.conversion"],
    }


def test_one_format_for_money_and_percentages(settings):
    settings.CRM_CURRENCY = "EUR"
    assert format_money(Decimal("1441.5")) == "1,441.50 EUR"
    assert format_money(31702.97) == "31,702.97 EUR"
    assert format_money(None) == "—"
    assert format_percent(0.0377) == "3.8 %"


def test_overview_shows_no_figure_without_a_catalogue_entry(demo):
    """Every KPI card, stage chip and chart column on the overview names its catalogue metric."""
    client = Client()
    # force_login: a password login goes through django-axes, which needs the request (a real login does).
    client.force_login(get_user_model().objects.get(username="marketer"))
    headers = {FRAGMENT_HEADER: "1"}
    for period in ("30d", "365d"):
        kpis = client.get(f"/overview/kpis/?period={period}", headers=headers).content.decode()
        cards = re.findall(r'class="kpi" data-metric="([^"]+)"', kpis)
        assert len(cards) == kpis.count('class="kpi"') == 10
        assert all(key in CATALOGUE for key in cards)
        for key in re.findall(r'data-metric="([^"]+)"', kpis):
            assert key in CATALOGUE, key
        assert kpis.count('class="n"') == kpis.count('class="n" data-metric="stage.contacts_now"')
        # Each card's definition is a native disclosure (keyboard and touch), not a hover title.
        assert kpis.count('<details class="metric-def"') == 10 and ' title="' not in kpis
        for spec in CHARTS:
            body = client.get(f"/overview/charts/{spec.key}/?period={period}", headers=headers).content.decode()
            if "<table>" not in body:
                continue
            head = body.split("<thead>", 1)[1].split("</thead>", 1)[0]
            columns = re.findall(r"<th [^>]*>", head)
            shown = re.findall(r'data-metric="([^"]+)"', head)
            assert len(shown) == len(columns) > 1, (spec.key, head)
            assert all(key in CATALOGUE for key in shown), (spec.key, shown)
            assert "What these figures mean" in body


def _leaf_paths(value, prefix=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_paths(item, f"{prefix}{key}.")
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            yield from _leaf_paths(item, prefix)
    else:
        yield prefix.rstrip(".")


def test_every_analytics_api_field_has_a_catalogue_entry(demo):
    """Walk every analytics endpoint's JSON on demo data: each field is a catalogued figure (or dimension)."""
    from django.contrib.auth import get_user_model

    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username="marketer"))
    missing = []
    for spec in discover_reports():
        response = client.get(f"/api/v1/analytics/{spec.name}/")
        assert response.status_code == 200, (spec.name, response.content[:300])
        for path in set(_leaf_paths(response.json())):
            if f"{spec.name}.{path}" not in BY_API_FIELD:
                missing.append(f"{spec.name}.{path}")
    assert not missing, missing
