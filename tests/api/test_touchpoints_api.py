"""Touchpoint ingestion over the API: one or many, all-or-nothing, idempotent, attributed, size-capped."""

import json
import threading

import pytest
from django.db import connection
from django.test import override_settings

from accounts.services import api_key_create
from contacts.models import Touchpoint
from tests.api.conftest import client_for
from tests.factories import CampaignFactory, ContactFactory
from tests.services import require_postgres


def _batch(contacts, n, prefix="o"):
    return [
        {
            "contact_external_id": contacts[i % len(contacts)].external_id,
            "kind": "purchase",
            "amount": "19.90",
            "external_id": f"{prefix}-{i}",
            "occurred_at": "2026-05-01T10:00:00Z",
        }
        for i in range(n)
    ]


@pytest.fixture
def shop_contacts(db):
    return [ContactFactory(external_id=f"cust-{i}") for i in range(5)]


def test_single_object_returns_the_touchpoint_with_created_flag(integration_client, shop_contacts):
    response = integration_client.post(
        "/api/v1/touchpoints/",
        {"contact_email": shop_contacts[0].email.upper(), "kind": "site_visit", "external_id": "v-1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True and body["contact"] == shop_contacts[0].pk and body["source"] == "api"
    again = integration_client.post(
        "/api/v1/touchpoints/",
        {"contact_email": shop_contacts[0].email, "kind": "site_visit", "external_id": "v-1"},
        format="json",
    )
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["id"] == body["id"]


def test_same_batch_twice_creates_each_touchpoint_once(integration_client, shop_contacts):
    batch = _batch(shop_contacts, 50)
    first = integration_client.post("/api/v1/touchpoints/", batch, format="json")
    assert first.status_code == 201
    assert first.json()["created"] == 50 and first.json()["existing"] == 0
    second = integration_client.post("/api/v1/touchpoints/", batch, format="json")
    assert second.status_code == 200
    assert second.json()["created"] == 0 and second.json()["existing"] == 50
    assert [r["id"] for r in second.json()["results"]] == [r["id"] for r in first.json()["results"]]
    assert Touchpoint.objects.count() == 50


def test_one_invalid_item_rejects_the_whole_batch_with_per_item_messages(integration_client, shop_contacts):
    batch = _batch(shop_contacts, 10)
    batch[3]["kind"] = "teleport"
    batch[7] = {"contact_external_id": "nobody", "kind": "call"}
    response = integration_client.post("/api/v1/touchpoints/", batch, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "nothing was written" in body["detail"]
    assert [item["index"] for item in body["errors"]["items"]] == [3]
    assert "kind" in body["errors"]["items"][0]["errors"]
    assert Touchpoint.objects.count() == 0
    batch[3]["kind"] = "purchase"
    response = integration_client.post("/api/v1/touchpoints/", batch, format="json")
    assert response.status_code == 400  # unknown contact, found in the second pass
    assert response.json()["errors"]["items"] == [
        {"index": 7, "errors": {"contact_external_id": ["No contact matches 'nobody'."]}}
    ]
    assert Touchpoint.objects.count() == 0


def test_more_than_1000_items_is_a_400(integration_client, shop_contacts):
    response = integration_client.post("/api/v1/touchpoints/", _batch(shop_contacts, 1001), format="json")
    assert response.status_code == 400
    assert Touchpoint.objects.count() == 0


def test_full_batch_of_1000_is_accepted(integration_client, shop_contacts):
    response = integration_client.post("/api/v1/touchpoints/", _batch(shop_contacts, 1000), format="json")
    assert response.status_code == 201
    assert Touchpoint.objects.count() == 1000


def test_bad_body_shapes_are_400(integration_client):
    for body in ([], "text", 42, [1, 2]):
        response = integration_client.post("/api/v1/touchpoints/", body, format="json")
        assert response.status_code == 400, (body, response.content)
    response = integration_client.post("/api/v1/touchpoints/", b"{not json", content_type="application/json")
    assert response.status_code == 400


@override_settings(API_MAX_REQUEST_BYTES=2000)
def test_oversized_body_is_413(integration_client, shop_contacts):
    response = integration_client.post("/api/v1/touchpoints/", _batch(shop_contacts, 50), format="json")
    assert response.status_code == 413
    assert Touchpoint.objects.count() == 0


def test_utm_campaign_attributes_to_the_campaign_and_is_stored(integration_client, shop_contacts):
    campaign = CampaignFactory(utm_campaign="spring-sale")
    response = integration_client.post(
        "/api/v1/touchpoints/",
        {
            "contact": shop_contacts[0].pk,
            "kind": "ad_click",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "spring-sale",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["campaign"] == campaign.pk
    assert (body["utm_source"], body["utm_medium"], body["utm_campaign"]) == ("google", "cpc", "spring-sale")


def test_touchpoint_list_pages_by_cursor_and_filters(integration_client, shop_contacts):
    integration_client.post("/api/v1/touchpoints/", _batch(shop_contacts, 12), format="json")
    seen, url = [], "/api/v1/touchpoints/?page_size=5"
    while url:
        body = integration_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted(Touchpoint.objects.values_list("id", flat=True), reverse=True)
    only = integration_client.get(f"/api/v1/touchpoints/?contact={shop_contacts[0].pk}").json()["results"]
    assert {row["contact"] for row in only} == {shop_contacts[0].pk}
    assert integration_client.get("/api/v1/touchpoints/?kind=teleport").status_code == 400


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_identical_batches_create_each_touchpoint_once():
    """Four threads post the same batch at once (PostgreSQL): every touchpoint exists exactly once."""
    require_postgres()
    contacts = [ContactFactory(external_id=f"cc-{i}") for i in range(5)]
    _, raw = api_key_create(name="shop", role="integration")
    batch = _batch(contacts, 200, prefix="race")
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def push():
        try:
            barrier.wait()
            statuses.append(client_for(key=raw).post("/api/v1/touchpoints/", batch, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) in ([200, 200, 200, 201], [200, 200, 201, 201], [200, 201, 201, 201], [201] * 4)
    assert Touchpoint.objects.filter(external_id__startswith="race-").count() == 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_batches_sharing_keys_in_opposite_orders_do_not_deadlock():
    """Batches with the same keys in opposite orders (PostgreSQL): no deadlock, no 500, each touchpoint once."""
    require_postgres()
    contacts = [ContactFactory(external_id=f"cd-{i}") for i in range(5)]
    _, raw = api_key_create(name="shop", role="integration")
    for round_no in range(3):
        batch = _batch(contacts, 150, prefix=f"opp{round_no}")
        orders = [batch, list(reversed(batch))] * 2
        statuses: list[int] = []
        barrier = threading.Barrier(len(orders))

        def push(items, barrier=barrier, statuses=statuses):
            try:
                barrier.wait()
                statuses.append(client_for(key=raw).post("/api/v1/touchpoints/", items, format="json").status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=push, args=(items,)) for items in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(statuses) <= {200, 201} and len(statuses) == len(orders), statuses
        assert Touchpoint.objects.filter(external_id__startswith=f"opp{round_no}-").count() == 150


@pytest.mark.parametrize("size", [1, 30])
@pytest.mark.parametrize(
    ("field", "value"),
    [("note", "a\u0000b"), ("note", "x\ud800y"), ("utm_source", "\udfff"), ("external_id", "e\u0000")],
)
def test_text_the_database_cannot_store_is_a_400_not_a_500(integration_client, shop_contacts, size, field, value):
    """NUL characters and unpaired surrogates (both valid JSON escapes) are refused per item; nothing is stored."""
    items = [{"contact": shop_contacts[0].pk, "kind": "call", "external_id": f"t-{i}"} for i in range(size)]
    items[-1][field] = value
    body = json.dumps(items if size > 1 else items[0])  # ASCII JSON: the surrogates travel as \u escapes
    response = integration_client.post("/api/v1/touchpoints/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in str(response.json())
    assert not Touchpoint.objects.exists()


def test_a_contact_key_the_database_cannot_store_is_a_400(integration_client, shop_contacts):
    response = integration_client.post(
        "/api/v1/touchpoints/", {"contact_external_id": "cust-\u0000", "kind": "call"}, format="json"
    )
    assert response.status_code == 400 and "contact_external_id" in response.json()["errors"]


def test_single_post_answers_exactly_what_the_touchpoint_serializer_gives(integration_client, shop_contacts):
    from contacts.api.serializers import TouchpointSerializer

    campaign = CampaignFactory(utm_campaign="spring")
    item = {"contact": shop_contacts[1].pk, "kind": "purchase", "amount": "5.5", "utm_campaign": "spring"}
    for status in (201, 200):
        response = integration_client.post("/api/v1/touchpoints/", {**item, "external_id": "same"}, format="json")
        assert response.status_code == status
        body = response.json()
        stored = Touchpoint.objects.get(pk=body["id"])
        assert stored.campaign_id == campaign.pk
        expected = json.loads(json.dumps(TouchpointSerializer(stored).data))
        assert body == {**expected, "created": status == 201}


def test_a_numeric_contact_external_id_finds_the_contact_with_that_text_id(integration_client):
    contact = ContactFactory(external_id="42")
    one = {"contact_external_id": 42, "kind": "call", "external_id": "num-1"}
    response = integration_client.post("/api/v1/touchpoints/", one, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["contact"] == contact.pk
    many = [{"contact_external_id": 42, "kind": "call", "external_id": f"num-{i}"} for i in range(2, 30)]
    response = integration_client.post("/api/v1/touchpoints/", many, format="json")
    assert response.status_code == 201, response.content
    assert Touchpoint.objects.filter(contact=contact, external_id__startswith="num-").count() == 29
