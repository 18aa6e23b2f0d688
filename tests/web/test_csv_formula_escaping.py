"""Issue 19 finding 8: every CSV export escapes cells a spreadsheet would run as formulas."""

import csv
import io

import pytest
from django.urls import reverse

from lifecycle_crm.csv_export import csv_cell
from stages.models import Stage
from tests.factories import CampaignFactory, ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db

EVIL_STAGE = '=HYPERLINK("http://evil.example","x")'
EVIL_CAMPAIGN = "@SUM(1+1)*cmd|' /C calc'!A0"


def _cells(response) -> list[str]:
    body = response.content.decode() if not response.streaming else b"".join(response.streaming_content).decode()
    return [cell for row in csv.reader(io.StringIO(body)) for cell in row]


def test_chart_csvs_escape_stage_and_campaign_names(marketer_client):
    Stage.objects.filter(slug="awareness").update(name=EVIL_STAGE)
    campaign = CampaignFactory(name=EVIL_CAMPAIGN)
    contact = ContactFactory(acquisition_campaign=campaign)
    TouchpointFactory(contact=contact, kind="purchase", amount="10.00", campaign=campaign)

    funnel = _cells(marketer_client.get(reverse("web:chart_csv", args=["funnel"]), {"period": "90d"}))
    assert "'" + EVIL_STAGE in funnel
    assert EVIL_STAGE not in funnel
    campaigns = _cells(marketer_client.get(reverse("web:chart_csv", args=["campaigns"]), {"period": "90d"}))
    assert "'" + EVIL_CAMPAIGN in campaigns
    assert EVIL_CAMPAIGN not in campaigns


def test_contact_export_and_rejected_rows_still_escape(marketer_client):
    ContactFactory(company="=1+1", first_name="-2+3")
    cells = _cells(marketer_client.get(reverse("web:contact_export")))
    assert "'=1+1" in cells and "'-2+3" in cells and "=1+1" not in cells


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd", "'=cmd"),
        ("+1+1", "'+1+1"),
        ("-A1", "'-A1"),
        ("@x", "'@x"),
        ("\t=x", "'\t=x"),
        ("\r=x", "'\r=x"),
        ("-12.5", "-12.5"),  # a signed number is a number, not a formula
        ("+3e5", "+3e5"),
        (-4, "-4"),
        (None, ""),
        ("plain", "plain"),
    ],
)
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell
