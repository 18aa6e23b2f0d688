"""Stage rules without admin (issue 21): a structured editor over the rule-metric registry (no JSON box) and a
dry-run preview of who would move, which writes nothing."""

import pytest
from django.urls import reverse

from stages.models import StageRule, StageTransition
from tests.factories import ContactFactory, TouchpointFactory, stage
from tests.web.conftest import login

pytestmark = pytest.mark.django_db


def _data(**overrides):
    data = {
        "name": "Two reviews make an advocate",
        "stage": stage("advocacy").pk,
        "match": "all",
        "priority": "0",
        "is_active": "on",
        "description": "",
        "conditions-TOTAL_FORMS": "2",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "12",
        "conditions-0-metric": "reviews",
        "conditions-0-op": ">=",
        "conditions-0-value": "2",
        "conditions-0-days": "365",
        "conditions-1-metric": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def marketer_web(marketer):
    return login(marketer)


def test_the_editor_offers_registry_metrics_and_no_json_box(marketer_web):
    html = marketer_web.get(reverse("web:stage_rule_create")).content.decode()
    assert '<option value="days_since_last_purchase">Days since last purchase</option>' in html
    assert "conditions-0-op" in html and 'name="conditions"' not in html and "JSON" not in html


def test_a_marketer_saves_a_rule_from_picked_metric_operator_and_value(marketer_web):
    response = marketer_web.post(reverse("web:stage_rule_create"), _data())
    assert response.status_code == 302
    rule = StageRule.objects.get(name="Two reviews make an advocate")
    assert rule.stage.slug == "advocacy"
    assert rule.conditions == [{"metric": "reviews", "op": ">=", "value": 2, "params": {"days": 365}}]
    listing = marketer_web.get(reverse("web:stage_rule_list")).content.decode()
    assert "Reviews in the last 365 days at least 2" in listing


def test_a_wrong_value_is_refused_with_the_registrys_words_and_nothing_is_saved(marketer_web):
    before = StageRule.objects.count()
    response = marketer_web.post(reverse("web:stage_rule_create"), _data(**{"conditions-0-value": "many"}))
    assert response.status_code == 200
    assert "compares with a whole number" in response.content.decode()
    assert StageRule.objects.count() == before


def test_the_preview_says_who_would_move_and_writes_nothing(marketer_web):
    fan = ContactFactory(stage=stage("retention"))
    TouchpointFactory(contact=fan, kind="review")
    TouchpointFactory(contact=fan, kind="review")
    transitions = StageTransition.objects.count()
    response = marketer_web.post(reverse("web:stage_rule_create"), {**_data(), "preview": "1"})
    preview = response.context["preview"]
    assert preview["by_this_rule"] >= 1
    assert (("Retention", "Advocacy"), 1) in preview["moves"]
    fan.refresh_from_db()
    assert fan.stage.slug == "retention" and StageTransition.objects.count() == transitions
    assert not StageRule.objects.filter(name="Two reviews make an advocate").exists()


def test_editing_an_existing_rule_shows_its_conditions_as_fields(marketer_web):
    rule = StageRule.objects.filter(conditions__0__metric="purchases").first() or StageRule.objects.first()
    html = marketer_web.get(reverse("web:stage_rule_edit", args=[rule.pk])).content.decode()
    metric = rule.conditions[0]["metric"]
    assert f'<option value="{metric}" selected>' in html


def test_reps_cannot_edit_rules(rep):
    assert login(rep).get(reverse("web:stage_rule_create")).status_code == 403
