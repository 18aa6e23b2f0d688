"""Issue 17 in the API: provenance of moves and touchpoints, time in stage on transitions and contacts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts.models import ApiKey
from contacts.models import Contact, Touchpoint
from stages.engine import lifecycle_evaluate
from stages.models import StageTransition
from tests.factories import ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def test_a_move_by_an_integration_key_records_the_key_and_the_sources_agree(integration_client):
    contact = ContactFactory()
    response = integration_client.post(
        f"/api/v1/contacts/{contact.pk}/move/", {"stage": "loyalty", "reason": "Synced from the shop"}, format="json"
    )
    assert response.status_code == 201, response.content
    key = ApiKey.objects.get(name="web shop")
    contact.refresh_from_db()
    move = StageTransition.objects.filter(contact=contact).latest("id")
    assert contact.stage_source == move.source == "api"  # was: contact "manual", transition "api"
    assert move.api_key_id == key.pk and "web shop" in move.actor_name
    body = response.json()
    assert body["contact"]["stage_source"] == body["transition"]["source"] == "api"
    assert body["transition"]["api_key"] == key.pk


def test_a_move_by_a_person_records_the_person(admin_client, admin_user):
    contact = ContactFactory()
    admin_client.post(f"/api/v1/contacts/{contact.pk}/move/", {"stage": "loyalty", "reason": "VIP"}, format="json")
    contact.refresh_from_db()
    move = StageTransition.objects.filter(contact=contact).latest("id")
    assert contact.stage_source == move.source == "manual"
    assert move.user == admin_user and move.api_key is None and "admin" in move.actor_name


def test_a_pushed_touchpoint_and_the_rule_move_it_causes_record_the_key(integration_client, integration_key):
    contact = ContactFactory()
    response = integration_client.post(
        "/api/v1/touchpoints/", {"contact": contact.pk, "kind": "purchase", "amount": "12.00"}, format="json"
    )
    assert response.status_code == 201, response.content
    key = ApiKey.objects.get(name="web shop")
    touchpoint = Touchpoint.objects.get(contact=contact)
    assert touchpoint.api_key_id == key.pk and touchpoint.received_at is not None
    lifecycle_evaluate(contact_ids=[contact.pk])
    move = StageTransition.objects.filter(contact=contact).latest("id")
    assert (move.source, move.touchpoint_id, move.api_key_id) == ("rule", touchpoint.pk, key.pk)


def test_transitions_expose_exited_at_and_duration(admin_client):
    with time_machine.travel(NOW, tick=False):
        contact = ContactFactory(acquired_at=NOW - dt.timedelta(days=100))
        TouchpointFactory(contact=contact, kind="email_open", occurred_at=NOW - dt.timedelta(days=90))
        TouchpointFactory(contact=contact, kind="purchase", amount=5, occurred_at=NOW - dt.timedelta(days=60))
        lifecycle_evaluate(contact_ids=[contact.pk])
        rows = admin_client.get(f"/api/v1/contacts/{contact.pk}/transitions/").json()["results"]
        feed = admin_client.get("/api/v1/transitions/", {"contact": contact.pk, "to_stage": "awareness"}).json()
    assert [r["to_stage"] for r in rows] == ["awareness", "purchase"]
    assert rows[0]["exited_at"] == rows[1]["effective_at"]
    assert rows[0]["duration_seconds"] == 40 * 86400
    assert rows[1]["exited_at"] is None and rows[1]["duration_seconds"] == 60 * 86400
    # A filtered feed still knows when each move was left (not only within the filtered rows).
    [awareness] = feed["results"]
    assert awareness["exited_at"] == rows[1]["effective_at"]


def test_contact_api_and_page_show_latest_and_cumulative_time_per_stage(admin_client, client, admin_user):
    with time_machine.travel(NOW, tick=False):
        contact = ContactFactory(acquired_at=NOW - dt.timedelta(days=700))
        TouchpointFactory(contact=contact, kind="purchase", amount=5, occurred_at=NOW - dt.timedelta(days=650))
        lifecycle_evaluate(contact_ids=[contact.pk], as_of=(NOW - dt.timedelta(days=450)).date())
        TouchpointFactory(contact=contact, kind="purchase", amount=5, occurred_at=NOW - dt.timedelta(days=300))
        lifecycle_evaluate(contact_ids=[contact.pk], as_of=(NOW - dt.timedelta(days=290)).date())
        lifecycle_evaluate(contact_ids=[contact.pk])
        times = admin_client.get(f"/api/v1/contacts/{contact.pk}/stage-times/").json()
        client.force_login(admin_user)
        page = client.get(f"/contacts/{contact.pk}/").content.decode()
    at_risk = next(t for t in times if t["stage"] == "at_risk")
    assert at_risk["visits"] == 2
    assert at_risk["latest_seconds"] == 120 * 86400  # 300 - 180 days, current
    assert at_risk["total_seconds"] == ((650 - 180) - 300 + 120) * 86400
    assert at_risk["is_current"]
    assert 'id="time-in-stage"' in page and "290 d" in page  # at risk in total: 170 + 120 days
    assert Contact.objects.get(pk=contact.pk).stage.slug == "at_risk"
