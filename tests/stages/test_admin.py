"""Admin: rule validation messages on the form, the dry-run preview, and the read-only transition history."""

import json

import pytest
from django.urls import reverse

from stages.models import StageRule, StageTransition
from tests.factories import ContactFactory, TouchpointFactory, stage

pytestmark = pytest.mark.django_db


def rule_form(**overrides):
    data = {
        "name": "Webinar fans",
        "stage": stage("engagement").pk,
        "match": "all",
        "conditions": json.dumps([{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["webinar"]}}]),
        "priority": "0",
        "is_active": "on",
        "description": "",
    }
    data.update(overrides)
    return data


def test_admin_refuses_invalid_rule_with_clear_message(client, admin_user):
    client.force_login(admin_user)
    count = StageRule.objects.count()
    bad = json.dumps([{"metric": "purchases", "op": "between", "value": "two"}])
    response = client.post(reverse("admin:stages_stagerule_add"), rule_form(conditions=bad))
    assert response.status_code == 200
    body = response.content.decode()
    assert "operator &#x27;between&#x27; is not allowed for &#x27;purchases&#x27;" in body
    assert "compares with a whole number" in body
    assert body.count("is not allowed for") == 1  # once, not repeated by the model's own check
    assert StageRule.objects.count() == count


def test_admin_saves_valid_rule(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:stages_stagerule_add"), rule_form())
    assert response.status_code == 302
    assert StageRule.objects.filter(name="Webinar fans").exists()


def test_rule_preview_counts_moves_without_saving(client, admin_user):
    fans = [ContactFactory() for _ in range(3)]
    for contact in fans:
        TouchpointFactory(contact=contact, kind="webinar")
    ContactFactory()
    rule = StageRule.objects.get(name="Engaged")
    client.force_login(admin_user)
    # Narrow the default engagement rule to a kind nobody has: the preview shows no engagement moves.
    narrowed = json.dumps([{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["chat"]}}])
    url = reverse("admin:stages_stagerule_preview") + f"?rule={rule.pk}"
    response = client.post(url, rule_form(name="Engaged", conditions=narrowed))
    assert response.status_code == 200
    assert b"This rule would move 0 contacts" in response.content
    response = client.post(url, rule_form(name="Engaged"))
    body = response.content.decode()
    assert "This rule would move 3 contacts to Engagement" in body
    assert "<td>awareness</td><td>engagement</td><td>3</td>" in body
    rule.refresh_from_db()
    assert rule.conditions[0]["params"]["kinds"] != ["webinar"]  # nothing saved
    assert not StageTransition.objects.filter(source="rule").exists()  # nothing moved


def test_rule_preview_shows_errors_for_invalid_rule(client, admin_user):
    client.force_login(admin_user)
    bad = json.dumps([{"metric": "mood", "op": ">", "value": 1}])
    response = client.post(reverse("admin:stages_stagerule_preview"), rule_form(conditions=bad))
    assert response.status_code == 200
    assert b"unknown metric" in response.content


def test_rule_preview_needs_permission(client, marketer):
    client.force_login(marketer)
    response = client.post(reverse("admin:stages_stagerule_preview"), rule_form())
    assert response.status_code in (302, 403)


def test_transitions_are_read_only_in_admin(client, admin_user):
    contact = ContactFactory()
    transition = contact.transitions.get()
    client.force_login(admin_user)
    assert client.get(reverse("admin:stages_stagetransition_changelist")).status_code == 200
    assert client.get(reverse("admin:stages_stagetransition_add")).status_code == 403
    change_url = reverse("admin:stages_stagetransition_change", args=[transition.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    client.post(change_url, {"note": "rewritten"})
    assert client.post(reverse("admin:stages_stagetransition_delete", args=[transition.pk])).status_code == 403
    transition.refresh_from_db()
    assert transition.note == "Created by factory"


def test_stage_admin_lists_stages(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:stages_stage_changelist"))
    assert response.status_code == 200
    assert b"At risk" in response.content
