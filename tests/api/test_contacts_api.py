"""Contacts over the API: shape, create/update/upsert through services, filters, cursor pagination, query budget."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from metrics.models import ContactMetrics
from tests.api.conftest import client_for
from tests.factories import ContactFactory, SegmentFactory, TagFactory, UserFactory, stage

METRIC_KEYS = {"purchases", "revenue", "historic_clv", "predicted_clv", "p_alive", "expected_purchases", "rfm_segment"}


def test_contact_json_carries_stage_slug_entered_time_and_metrics(admin_client):
    contact = ContactFactory(stage=stage("purchase"))
    ContactMetrics.objects.create(
        contact=contact,
        purchase_count=3,
        revenue=Decimal("120.50"),
        historic_clv=Decimal("120.50"),
        predicted_clv=Decimal("310.00"),
        p_alive=0.82,
        expected_purchases=1.7,
        rfm_segment="loyal",
    )
    body = admin_client.get(f"/api/v1/contacts/{contact.pk}/").json()
    assert body["stage"] == "purchase"
    assert body["stage_entered_at"].startswith(contact.stage_entered_at.date().isoformat())
    assert set(body["metrics"]) >= METRIC_KEYS
    assert body["metrics"]["purchases"] == 3
    assert body["metrics"]["predicted_clv"] == "310.00"
    assert body["metrics"]["rfm_segment"] == "loyal"


def test_contact_without_metrics_row_has_zero_and_null_metrics(admin_client):
    contact = ContactFactory()
    metrics = admin_client.get(f"/api/v1/contacts/{contact.pk}/").json()["metrics"]
    assert metrics["purchases"] == 0 and metrics["revenue"] == "0.00"
    assert metrics["predicted_clv"] is None and metrics["p_alive"] is None


def test_create_writes_the_first_transition_and_tags(integration_client):
    response = integration_client.post(
        "/api/v1/contacts/",
        {"email": "Ada@Example.com", "first_name": "Ada", "tags": ["VIP", "newsletter"], "stage": "engagement"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["stage"] == "engagement" and body["tags"] == ["VIP", "newsletter"]
    contact = Contact.objects.get(pk=body["id"])
    assert contact.transitions.get().to_stage.slug == "engagement"
    assert contact.transitions.get().source == "api"


def test_duplicate_email_is_a_400_naming_the_field(integration_client):
    ContactFactory(email="dup@example.com")
    response = integration_client.post("/api/v1/contacts/", {"email": "DUP@example.com"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_patch_cannot_change_the_stage(integration_client):
    contact = ContactFactory()
    response = integration_client.patch(f"/api/v1/contacts/{contact.pk}/", {"stage": "loyalty"}, format="json")
    assert response.status_code == 400
    assert "stage" in response.json()["errors"]


def test_upsert_creates_then_updates_by_external_id_then_by_email(integration_client):
    first = integration_client.post(
        "/api/v1/contacts/upsert/", {"email": "u@example.com", "external_id": "C-1"}, format="json"
    )
    assert first.status_code == 201 and first.json()["created"] is True
    again = integration_client.post(
        "/api/v1/contacts/upsert/", {"email": "u@example.com", "external_id": "C-1", "company": "Acme"}, format="json"
    )
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"] and again.json()["company"] == "Acme"
    by_email = integration_client.post(
        "/api/v1/contacts/upsert/", {"email": "U@EXAMPLE.COM", "phone": "123"}, format="json"
    )
    assert by_email.status_code == 200 and by_email.json()["id"] == first.json()["id"]
    assert Contact.objects.count() == 1


def test_move_records_the_reason_and_changes_the_stage(admin_client, admin_user):
    contact = ContactFactory()
    response = admin_client.post(
        f"/api/v1/contacts/{contact.pk}/move/", {"stage": "loyalty", "reason": "Signed a 3-year deal"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["contact"]["stage"] == "loyalty"
    assert body["transition"]["note"] == "Signed a 3-year deal" and body["transition"]["from_stage"] == "awareness"
    history = admin_client.get(f"/api/v1/contacts/{contact.pk}/transitions/").json()["results"]
    assert [t["to_stage"] for t in history] == ["awareness", "loyalty"]


def test_move_without_reason_is_a_400(admin_client):
    contact = ContactFactory()
    response = admin_client.post(f"/api/v1/contacts/{contact.pk}/move/", {"stage": "loyalty"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_unknown_contact_is_404_and_garbage_ids_too(admin_client):
    assert admin_client.get("/api/v1/contacts/999999/").status_code == 404
    assert admin_client.get("/api/v1/contacts/abc/").status_code == 404
    assert admin_client.get("/api/v1/contacts/99999999999999999999999/").status_code == 404


def test_delete_removes_the_contact(admin_client):
    contact = ContactFactory()
    assert admin_client.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()


# --- filters (one test each) -------------------------------------------------------------------


def _ids(client, query):
    response = client.get(f"/api/v1/contacts/?{query}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_filter_stage_by_slugs(admin_client):
    a = ContactFactory(stage=stage("purchase"))
    b = ContactFactory(stage=stage("loyalty"))
    ContactFactory()
    assert _ids(admin_client, "stage=purchase&stage=loyalty") == {a.pk, b.pk}


def test_filter_stage_id(admin_client):
    a = ContactFactory(stage=stage("purchase"))
    ContactFactory()
    assert _ids(admin_client, f"stage_id={stage('purchase').pk}") == {a.pk}


def test_filter_owner_and_owner_id(admin_client, rep):
    mine = ContactFactory(owner=rep)
    ContactFactory()
    assert _ids(admin_client, f"owner={rep.username}") == {mine.pk}
    assert _ids(admin_client, f"owner_id={rep.pk}") == {mine.pk}


def test_filter_mine_uses_the_viewer(rep):
    mine = ContactFactory(owner=rep)
    ContactFactory()
    assert _ids(client_for(rep), "mine=true") == {mine.pk}


def test_filter_channel(admin_client):
    paid = ContactFactory(acquisition_channel="paid_search")
    ContactFactory()
    assert _ids(admin_client, "channel=paid_search") == {paid.pk}


def test_filter_tag_is_case_insensitive_and_any_of(admin_client):
    vip, news = TagFactory(name="VIP"), TagFactory(name="news")
    a, b = ContactFactory(), ContactFactory()
    a.tags.add(vip)
    b.tags.add(vip, news)
    ContactFactory()
    assert _ids(admin_client, "tag=vip") == {a.pk, b.pk}
    assert _ids(admin_client, "tag=news&tag=vip") == {a.pk, b.pk}  # no duplicates for b
    assert _ids(admin_client, f"tag_id={news.pk}") == {b.pk}


def test_filter_segment_applies_its_saved_filters(admin_client):
    segment = SegmentFactory(filters={"stage": ["at_risk"], "channel": "email"})
    hit = ContactFactory(stage=stage("at_risk"), acquisition_channel="email")
    ContactFactory(stage=stage("at_risk"))
    assert _ids(admin_client, f"segment={segment.pk}") == {hit.pk}
    assert {r["id"] for r in admin_client.get(f"/api/v1/segments/{segment.pk}/contacts/").json()["results"]} == {hit.pk}


def test_filter_created_and_stage_entered_ranges(admin_client):
    old = ContactFactory(acquired_at=timezone.now() - dt.timedelta(days=400))
    new = ContactFactory(acquired_at=timezone.now() - dt.timedelta(days=2))
    since = (timezone.now() - dt.timedelta(days=10)).date().isoformat()
    assert _ids(admin_client, f"created_after={since}") == {new.pk}
    assert _ids(admin_client, f"stage_entered_before={since}") == {old.pk}


def test_filter_clv_range(admin_client):
    low, high = ContactFactory(), ContactFactory()
    ContactMetrics.objects.create(contact=low, predicted_clv=Decimal("10"), historic_clv=Decimal("5"))
    ContactMetrics.objects.create(contact=high, predicted_clv=Decimal("900"), historic_clv=Decimal("700"))
    assert _ids(admin_client, "clv_min=100") == {high.pk}
    assert _ids(admin_client, "clv_max=100") == {low.pk}
    assert _ids(admin_client, "historic_clv_min=6") == {high.pk}


def test_filter_at_risk(admin_client):
    stalled = ContactFactory(stage=stage("at_risk"))
    slipping = ContactFactory(stage=stage("retention"))
    ContactMetrics.objects.create(contact=slipping, purchase_count=2, p_alive=0.2)
    fine = ContactFactory(stage=stage("retention"))
    ContactMetrics.objects.create(contact=fine, purchase_count=2, p_alive=0.9)
    assert _ids(admin_client, "at_risk=true") == {stalled.pk, slipping.pk}
    assert fine.pk in _ids(admin_client, "at_risk=false")


def test_filter_q_searches_name_email_company(admin_client):
    ada = ContactFactory(first_name="Ada", last_name="Lovelace", company="Analytical Engines")
    ContactFactory(first_name="Bob", last_name="Smith", company="Acme")
    assert _ids(admin_client, "q=ada+lovelace") == {ada.pk}
    assert _ids(admin_client, "q=analytical") == {ada.pk}


def test_filter_email_is_case_insensitive_exact(admin_client):
    hit = ContactFactory(email="Grace@Example.com")
    ContactFactory(email="grace2@example.com")
    assert _ids(admin_client, "email=grace@example.COM") == {hit.pk}


def test_filter_external_id(admin_client):
    hit = ContactFactory(external_id="SHOP-7")
    ContactFactory(external_id="SHOP-8")
    assert _ids(admin_client, "external_id=SHOP-7") == {hit.pk}


def test_bad_filter_values_are_400_naming_the_filter(admin_client):
    response = admin_client.get("/api/v1/contacts/?stage=nope&owner_id=x&ordering=sideways&clv_min=abc")
    assert response.status_code == 400
    assert {"stage", "owner_id", "ordering", "clv_min"} <= set(response.json()["errors"])


def test_unknown_segment_is_400(admin_client):
    response = admin_client.get("/api/v1/contacts/?segment=424242")
    assert response.status_code == 400 and "segment" in response.json()["errors"]


def test_segment_with_invalid_saved_filters_is_refused_on_save(marketer_client):
    response = marketer_client.post(
        "/api/v1/segments/", {"name": "Bad", "filters": {"stage": ["nope"], "colour": "red"}}, format="json"
    )
    assert response.status_code == 400 and "filters" in response.json()["errors"]


# --- ordering and cursor pagination ------------------------------------------------------------


def test_cursor_pagination_walks_every_contact_once_forward_and_back(admin_client):
    contacts = ContactFactory.create_batch(7)
    seen, url, pages = [], "/api/v1/contacts/?page_size=3", []
    while url:
        body = admin_client.get(url).json()
        pages.append(body)
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted((c.pk for c in contacts), reverse=True)
    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    assert pages[0]["previous"] is None
    back = admin_client.get(pages[2]["previous"]).json()
    assert [row["id"] for row in back["results"]] == [row["id"] for row in pages[1]["results"]]


def test_cursor_pagination_with_clv_ordering_and_ties(admin_client):
    contacts = ContactFactory.create_batch(5)
    for index, contact in enumerate(contacts):
        ContactMetrics.objects.create(contact=contact, predicted_clv=Decimal(100 if index % 2 else 50))
    seen, url = [], "/api/v1/contacts/?ordering=-predicted_clv&page_size=2"
    while url:
        body = admin_client.get(url).json()
        seen += [(Decimal(r["metrics"]["predicted_clv"]), r["id"]) for r in body["results"]]
        url = body["next"]
    assert seen == sorted(seen, key=lambda t: (-t[0], -t[1]))
    assert len(seen) == 5


def test_tampered_or_foreign_cursor_is_400(admin_client):
    ContactFactory.create_batch(3)
    next_url = admin_client.get("/api/v1/contacts/?page_size=1").json()["next"]
    cursor = next_url.split("cursor=")[1].split("&")[0]
    assert admin_client.get("/api/v1/contacts/?cursor=garbage").status_code == 400
    assert admin_client.get(f"/api/v1/contacts/?cursor={cursor}&ordering=email").status_code == 400


def test_page_size_is_capped(admin_client):
    assert admin_client.get("/api/v1/contacts/?page_size=501").status_code == 400
    assert admin_client.get("/api/v1/contacts/?page_size=500").status_code == 200


def test_contact_list_query_count_does_not_grow_with_the_page(admin_client):
    owner = UserFactory(role="sales_rep")
    tag = TagFactory(name="vip")
    for contact in ContactFactory.create_batch(30, owner=owner):
        contact.tags.add(tag)
        ContactMetrics.objects.create(contact=contact, purchase_count=1)
    admin_client.get("/api/v1/contacts/?page_size=5")  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as small:
        assert admin_client.get("/api/v1/contacts/?page_size=5").status_code == 200
    with CaptureQueriesContext(connection) as large:
        assert admin_client.get("/api/v1/contacts/?page_size=30").status_code == 200
    assert len(large) == len(small)
    assert len(large) <= 4, [q["sql"] for q in large.captured_queries]


def test_key_authenticated_contact_list_stays_within_its_query_budget(integration_client):
    ContactFactory.create_batch(20)
    with CaptureQueriesContext(connection) as queries:
        assert integration_client.get("/api/v1/contacts/").status_code == 200
    # key lookup, last-used stamp (first use), contacts page, tags prefetch
    assert len(queries) <= 4, [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("ordering", ["created_at", "-stage_entered_at", "email", "-last_name", "historic_clv"])
def test_every_ordering_pages_without_gaps(admin_client, ordering):
    made = ContactFactory.create_batch(5)
    seen, url = [], f"/api/v1/contacts/?ordering={ordering}&page_size=2"
    while url:
        body = admin_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(c.pk for c in made)


def test_fast_contact_representation_equals_the_declared_fields(admin_user):
    from rest_framework import serializers

    from contacts.api.serializers import ContactSerializer
    from contacts.selectors import contact_get

    contact = ContactFactory(external_id="X-1", attributes={"plan": ["pro", 2]}, owner=admin_user)
    contact.tags.add(TagFactory(name="b"), TagFactory(name="A"))
    ContactMetrics.objects.create(
        contact=contact, purchase_count=2, revenue=Decimal("3.50"), predicted_clv=Decimal("9.99"), p_alive=0.5
    )
    contact = contact_get(user=admin_user, pk=contact.pk)
    declared = serializers.Serializer.to_representation(ContactSerializer(), contact)
    assert ContactSerializer(contact).data == dict(declared)
