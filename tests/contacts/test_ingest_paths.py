"""Both insert statements of touchpoint ingestion (VALUES for a few rows, unnest for many) store the same thing.

Each result's id must be the id of the row stored for that item (RETURNING order), including
items repeated within the batch and items already stored.
"""

import datetime as dt
from decimal import Decimal

import pytest

from contacts import services
from contacts.models import Touchpoint
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("size", [1, services.VALUES_INSERT_MAX, services.VALUES_INSERT_MAX + 1, 250])
def test_results_match_stored_rows_in_order(size, admin_user):
    contacts = [ContactFactory() for _ in range(5)]
    campaign = CampaignFactory()
    when = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
    rows = []
    for i in range(size):
        row = {
            "contact": contacts[i % 5].pk,
            "kind": "purchase" if i % 3 == 0 else "survey_response" if i % 3 == 1 else "email_open",
            "channel": "email",
            "occurred_at": (when + dt.timedelta(minutes=i)).isoformat(),
            "external_id": f"ext-{i}" if i % 4 else None,
            "note": f"note {i} with 'quotes' and \\ backslash",
            "utm_campaign": "spring" if i % 2 else "",
        }
        if row["kind"] == "purchase":
            row["amount"] = f"{i}.25"
            row["campaign"] = campaign.pk
        if row["kind"] == "survey_response":
            row["score"] = i % 11
        rows.append(row)
    rows.append(dict(rows[-1]))  # a repeat of the last item within the batch
    results = services.touchpoint_bulk_create(rows=rows, source="api", logged_by=admin_user, enqueue=False)

    assert len(results) == size + 1
    assert sum(r.created for r in results) == size + (0 if rows[-1]["external_id"] else 1)
    for row, result in zip(rows, results, strict=True):
        stored = Touchpoint.objects.get(pk=result.pk)
        assert (stored.contact_id, stored.kind, stored.note) == (row["contact"], row["kind"], row["note"])
        assert stored.occurred_at == dt.datetime.fromisoformat(row["occurred_at"])
        assert stored.external_id == row["external_id"] == result.external_id
        assert stored.amount == (Decimal(row["amount"]) if "amount" in row else None)
        assert stored.score == row.get("score")
        assert stored.campaign_id == row.get("campaign")
        assert stored.logged_by_id == admin_user.pk
        assert result.contact_id == stored.contact_id
        assert result.touchpoint.pk == stored.pk and result.touchpoint.kind == stored.kind  # built lazily

    again = services.touchpoint_bulk_create(rows=rows, source="api", enqueue=False)
    keyed = [(r.pk, a.pk) for r, a in zip(results, again, strict=True) if r.external_id]
    assert all(first == second for first, second in keyed)
    assert all(not a.created for a, r in zip(again, results, strict=True) if r.external_id)
