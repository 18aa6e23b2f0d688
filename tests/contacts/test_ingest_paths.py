"""Both insert statements of touchpoint ingestion (VALUES for a few rows, unnest for many) store the same thing.

Each result's id must be the id of the row stored for that item (RETURNING order), including
items repeated within the batch and items already stored.
"""

import datetime as dt
from decimal import Decimal

import pytest

from contacts import touchpoint_services
from contacts.models import Touchpoint
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "size", [1, touchpoint_services.VALUES_INSERT_MAX, touchpoint_services.VALUES_INSERT_MAX + 1, 250]
)
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
    results = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api", logged_by=admin_user, enqueue=False)

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

    again = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api", enqueue=False)
    keyed = [(r.pk, a.pk) for r, a in zip(results, again, strict=True) if r.external_id]
    assert all(first == second for first, second in keyed)
    assert all(not a.created for a, r in zip(again, results, strict=True) if r.external_id)


@pytest.mark.parametrize("size", [1, touchpoint_services.VALUES_INSERT_MAX + 10])
def test_text_and_times_are_stored_exactly(size):
    contact = ContactFactory()
    notes = ["line\nbreak\ttab", 'quote " and \\ and {a,b} and NULL', "Zoë 東京 🎉", "null", "", "\u2028"]
    rows = [
        {
            "contact": contact.pk,
            "kind": "call",
            "note": notes[i % len(notes)],
            "utm_source": "a,b",
            "external_id": f"x,{i}\"'",
            "occurred_at": "2026-03-29T01:30:00.123456+02:00",
        }
        for i in range(size)
    ]
    results = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api", enqueue=False)
    for row, result in zip(rows, results, strict=True):
        stored = Touchpoint.objects.get(pk=result.pk)
        assert stored.note == row["note"].strip() and stored.utm_source == "a,b"
        assert stored.external_id == row["external_id"]
        assert stored.occurred_at == dt.datetime(2026, 3, 28, 23, 30, 0, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize("size", [4, touchpoint_services.VALUES_INSERT_MAX + 10])
def test_a_batch_mixing_stored_new_repeated_and_unkeyed_items(size):
    contacts = [ContactFactory() for _ in range(3)]
    stored = touchpoint_services.touchpoint_bulk_create(
        rows=[{"contact": contacts[0].pk, "kind": "call", "external_id": f"k-{i}"} for i in range(0, size, 2)],
        source="api",
        enqueue=False,
    )
    stored_ids = {r.external_id: r.pk for r in stored}
    rows = []
    for i in range(size):
        rows.append({"contact": contacts[1 + i % 2].pk, "kind": "email_open", "external_id": f"k-{i}"})
        if i % 3 == 0:
            rows.append({"contact": contacts[1].pk, "kind": "site_visit"})  # no key: always new
    first_k1 = next(i for i, row in enumerate(rows) if row.get("external_id") == "k-1")
    rows.append(dict(rows[first_k1]))  # k-1 (new) again within the batch
    results = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api", enqueue=False)
    assert len(results) == len(rows)
    for row, result in zip(rows[:-1], results, strict=False):
        ext = row.get("external_id")
        if ext in stored_ids:
            assert (result.pk, result.created, result.contact_id) == (stored_ids[ext], False, contacts[0].pk)
            assert result.touchpoint.kind == "call"  # the stored touchpoint, not the pushed one
        else:
            assert result.created and Touchpoint.objects.get(pk=result.pk).kind == row["kind"]
            assert result.contact_id == row["contact"]
    assert results[first_k1].created
    assert (results[-1].pk, results[-1].created) == (results[first_k1].pk, False)
    keyed = Touchpoint.objects.filter(source="api", external_id__startswith="k-")
    assert keyed.count() == size
    assert Touchpoint.objects.filter(external_id__isnull=True).count() == sum(1 for r in rows if "external_id" not in r)


def test_a_fresh_batch_is_one_insert_without_a_look_up_on_postgresql():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.services import require_postgres

    require_postgres()
    contact = ContactFactory()
    rows = [{"contact": contact.pk, "kind": "call", "external_id": f"f-{i}"} for i in range(50)]
    with CaptureQueriesContext(connection) as queries:
        touchpoint_services.touchpoint_bulk_create(rows=rows, source="api", enqueue=False)
    touching = [q["sql"] for q in queries.captured_queries if "contacts_touchpoint" in q["sql"]]
    assert touching == []  # the INSERT runs on the raw cursor; no SELECT of stored keys before it
    assert Touchpoint.objects.filter(external_id__startswith="f-").count() == 50


def test_a_bare_date_means_its_noon_utc():
    contact = ContactFactory()
    result = touchpoint_services.touchpoint_create(
        data={"contact": contact.pk, "kind": "call", "occurred_at": "2026-01-31"}
    )
    assert Touchpoint.objects.get(pk=result.pk).occurred_at == dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)


def test_contacts_are_found_by_every_key_and_email_spelling():
    first, second = ContactFactory(email="Ann@Example.com", external_id="ext-a"), ContactFactory()
    rows = [
        {"contact_email": "ann@example.com", "kind": "call"},
        {"contact_email": " ANN@example.com ", "kind": "call"},  # another spelling of the same address
        {"contact_external_id": "ext-a", "kind": "call"},
        {"contact": second.pk, "kind": "call"},
        {"contact": str(second.pk), "kind": "call"},
    ]
    results = touchpoint_services.touchpoint_bulk_create(rows=rows, source="api", enqueue=False)
    assert [r.contact_id for r in results] == [first.pk, first.pk, first.pk, second.pk, second.pk]


@pytest.mark.parametrize(
    ("key", "value"),
    [("contact", 2**63), ("contact", 0), ("contact_external_id", "nobody"), ("contact_email", "x@y.z")],
)
def test_unknown_contacts_are_named_per_item(key, value):
    with pytest.raises(touchpoint_services.BatchValidationError) as exc:
        touchpoint_services.touchpoint_bulk_create(rows=[{key: value, "kind": "call"}], source="api", enqueue=False)
    assert exc.value.errors_by_index == {0: {key: [f"No contact matches {value!r}."]}}
