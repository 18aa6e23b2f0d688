"""Issue 17: a merge keeps one coherent history, and the removed contact's keys become aliases of the survivor."""

from __future__ import annotations

import datetime as dt
import itertools
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from accounts.services import api_key_create
from contacts.merge import contact_merge
from contacts.models import Contact, ContactAlias, Touchpoint
from stages.engine import lifecycle_evaluate
from stages.models import StageTransition
from stages.selectors import contact_stage_history
from tests.api.conftest import client_for
from tests.factories import ContactFactory, TouchpointFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def test_merge_rebuilds_the_survivors_moves_as_one_chain_and_keeps_the_others_in_the_log():
    with time_machine.travel(NOW, tick=False):
        survivor = ContactFactory(email="keep@example.com", acquired_at=ago(300))
        other = ContactFactory(email="drop@example.com", acquired_at=ago(500), external_id="SHOP-1")
        TouchpointFactory(contact=survivor, kind="purchase", amount=10, occurred_at=ago(100))
        TouchpointFactory(contact=other, kind="purchase", amount=10, occurred_at=ago(400))
        lifecycle_evaluate(contact_ids=[survivor.pk, other.pk])
        other_moves = list(StageTransition.objects.filter(contact=other).values_list("to_stage__slug", flat=True))
        assert other_moves == ["awareness", "purchase", "churned"]
        log = contact_merge(survivor=survivor, other=other)
        lifecycle_evaluate(contact_ids=[survivor.pk])
        history = list(StageTransition.objects.filter(contact=survivor).order_by("effective_at", "id"))
        times = contact_stage_history(contact_id=survivor.pk, now=NOW)
    # One first placement, at the earlier of the two; every move starts where the previous one ended.
    assert [t.from_stage_id is None for t in history].count(True) == 1 and history[0].from_stage_id is None
    assert history[0].effective_at == ago(500)
    for previous, move in itertools.pairwise(history):
        assert move.from_stage_id == previous.to_stage_id and move.effective_at >= previous.effective_at
    # The rebuilt chain is what the combined facts say: bought 400 days ago, lapsed, won back 100 days ago.
    assert [(t.to_stage.slug, t.effective_at, t.is_win_back) for t in history] == [
        ("awareness", ago(500), False),
        ("purchase", ago(400), False),
        ("at_risk", ago(220), False),
        ("retention", ago(100), True),
    ]
    survivor.refresh_from_db()
    assert (survivor.stage_id, survivor.stage_entered_at) == (history[-1].to_stage_id, history[-1].effective_at)
    # Time in stage adds up: the visits cover the life from the first placement to now without overlap.
    assert sum((s.total_duration for s in times.stages), dt.timedelta(0)) == NOW - ago(500)
    # The removed contact's own moves are in the merge record.
    assert [m["to_stage__slug"] for m in log.merged_history] == other_moves


def test_a_later_push_naming_the_merged_contacts_external_id_reaches_the_survivor():
    _, integration_key = api_key_create(name="web shop", role="integration")
    survivor = ContactFactory(email="keep@example.com", external_id="CRM-1")
    other = ContactFactory(email="drop@example.com", external_id="SHOP-9")
    contact_merge(survivor=survivor, other=other)
    assert set(ContactAlias.objects.values_list("kind", "value", "contact_id")) == {
        ("email", "drop@example.com", survivor.pk),
        ("external_id", "SHOP-9", survivor.pk),
    }
    api = client_for(key=integration_key)
    # Single push by the loser's external id (was: 400 "No contact matches").
    one = api.post("/api/v1/touchpoints/", {"contact_external_id": "SHOP-9", "kind": "site_visit"}, format="json")
    assert one.status_code == 201, one.content
    # Bulk push by the loser's email, any case.
    many = api.post(
        "/api/v1/touchpoints/",
        [{"contact_email": "DROP@example.com", "kind": "email_open"}, {"contact_external_id": "CRM-1", "kind": "call"}],
        format="json",
    )
    assert many.status_code == 201, many.content
    assert Touchpoint.objects.filter(contact=survivor).count() == 3
    # Look-ups.
    by_ext = api.get("/api/v1/contacts/", {"external_id": "SHOP-9"}).json()["results"]
    by_email = api.get("/api/v1/contacts/", {"email": "Drop@Example.com"}).json()["results"]
    assert [c["id"] for c in by_ext] == [c["id"] for c in by_email] == [survivor.pk]
    # Upsert by the loser's external id updates the survivor and does not take over its keys.
    upsert = api.post(
        "/api/v1/contacts/upsert/",
        {"external_id": "SHOP-9", "email": "drop@example.com", "phone": "555"},
        format="json",
    )
    assert upsert.status_code == 200, upsert.content
    assert upsert.json()["id"] == survivor.pk
    survivor.refresh_from_db()
    assert (survivor.email, survivor.external_id, survivor.phone) == ("keep@example.com", "CRM-1", "555")
    assert Contact.objects.count() == 1


def test_an_import_naming_the_merged_contact_reaches_the_survivor(admin_user, tmp_path):
    survivor = ContactFactory(email="keep@example.com")
    other = ContactFactory(email="drop@example.com", external_id="SHOP-9")
    contact_merge(survivor=survivor, other=other)
    path = tmp_path / "touchpoints.csv"
    path.write_text(
        "contact_external_id,contact_email,kind,occurred_at\nSHOP-9,,site_visit,2026-01-02\n,drop@example.com,call,2026-01-03\n"
    )
    call_command("import_touchpoints", str(path), stdout=StringIO(), stderr=StringIO())
    assert Touchpoint.objects.filter(contact=survivor, source="import").count() == 2
