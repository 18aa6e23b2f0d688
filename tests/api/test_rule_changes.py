"""Issue 17: a saved rule change applies at once in the background (progress, who moved); rule-set dry runs."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from stages.models import RuleApplication, StageRule, StageTransition
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db

WEBINAR = [{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["webinar"]}}]


def rule_form(**overrides):
    data = {
        "name": "Webinar fans",
        "stage": stage("consideration").pk,
        "match": "all",
        "conditions": json.dumps(WEBINAR),
        "priority": "0",
        "is_active": "on",
        "description": "",
    }
    data.update(overrides)
    return data


def webinar_fans(n: int = 3) -> list:
    fans = [ContactFactory() for _ in range(n)]
    for contact in fans:
        TouchpointFactory(contact=contact, kind="webinar")
    ContactFactory()  # not a fan
    return fans


def test_admin_preview_lists_who_would_move(client, admin_user):
    fans = webinar_fans()
    client.force_login(admin_user)
    response = client.post(reverse("admin:stages_stagerule_preview"), rule_form())
    body = response.content.decode()
    assert 'id="movers"' in body and "Who would move" in body
    for contact in fans:
        assert contact.email in body
    assert not StageTransition.objects.filter(to_stage__slug="consideration").exists()  # a dry run


def test_saving_a_rule_in_admin_re_evaluates_everyone_in_the_background_and_lists_who_moved(
    client, admin_user, django_capture_on_commit_callbacks
):
    fans = webinar_fans()
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:stages_stagerule_add"), rule_form(), follow=True)
    assert "Re-evaluating every contact with this rule in the background" in response.content.decode()
    application = RuleApplication.objects.get()
    assert application.status == "done" and application.processed == application.total == 4
    # The default engagement rule does not cover webinars, so exactly the fans move, straight away.
    assert sorted(m["contact_id"] for m in application.movers) == sorted(c.pk for c in fans)
    assert {m["to"] for m in application.movers} == {"consideration"} and application.moved == 3
    page = client.get(reverse("admin:stages_stagerule_application", args=[application.pk])).content.decode()
    assert "4 of 4 contacts re-evaluated (100%); 3 moved" in " ".join(page.split())
    for contact in fans:
        assert contact.email in page


def test_saving_a_rule_through_the_api_applies_it_and_reports_progress(
    admin_client, django_capture_on_commit_callbacks
):
    fans = webinar_fans(2)
    payload = {"name": "Webinar fans", "stage": "consideration", "match": "all", "conditions": WEBINAR}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/api/v1/stage-rules/", payload, format="json")
    assert response.status_code == 201, response.content
    [application] = admin_client.get("/api/v1/rule-applications/").json()["results"]
    assert application["status"] == "done" and application["percent"] == 100 and application["moved"] == 2
    assert sorted(m["contact_id"] for m in application["movers"]) == sorted(c.pk for c in fans)


def test_rule_set_dry_run_api_returns_counts_and_a_paged_list_of_who(admin_client):
    fans = webinar_fans(3)
    before = StageTransition.objects.count()
    rule = {"name": "Webinar fans", "stage": "consideration", "match": "all", "conditions": WEBINAR}
    response = admin_client.post(
        "/api/v1/stage-rules/dry-run/", {"rules": [rule], "page": 2, "page_size": 2}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] and body["moved"] == 3
    assert body["moves_by_rule"] == {"Webinar fans": 3}
    assert body["movers"]["count"] == 3 and body["movers"]["pages"] == 2
    assert [m["contact_id"] for m in body["movers"]["results"]] == [sorted(c.pk for c in fans)[2]]
    assert StageTransition.objects.count() == before  # nothing written
    # The saved rules alone: the default engagement rule counts webinars.
    saved = admin_client.post("/api/v1/stage-rules/dry-run/", {}, format="json").json()
    assert saved["moves_by_rule"] == {"Engaged": 3} and {m["to"] for m in saved["movers"]["results"]} == {"engagement"}


def test_rule_set_dry_run_refuses_bad_rules_with_field_messages(admin_client, marketer_client, rep_client):
    bad = {"name": "x", "stage": "nowhere", "conditions": [{"metric": "purchases", "op": "between"}]}
    response = admin_client.post("/api/v1/stage-rules/dry-run/", {"rules": [bad]}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "Unknown stage 'nowhere'" in errors["rules[0].stage"][0] and "rules[0].conditions" in errors
    assert marketer_client.post("/api/v1/stage-rules/dry-run/", {}, format="json").status_code == 200
    assert rep_client.post("/api/v1/stage-rules/dry-run/", {}, format="json").status_code == 403
    assert StageRule.objects.filter(name="x").count() == 0
