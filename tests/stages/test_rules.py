"""Stage rule validation (registry, operators, value types) and that values only ever reach SQL as parameters."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from stages.engine import lifecycle_evaluate
from stages.engine_rules import RuleSpec
from stages.models import StageRule
from stages.rules import validate_conditions
from stages.services import stage_rule_save
from tests.factories import ContactFactory, TouchpointFactory, stage


def messages(exc: ValidationError) -> str:
    return " ".join(exc.message_dict["conditions"])


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([{"metric": "vibes", "op": ">", "value": 1}], "unknown metric 'vibes'"),
        ([{"metric": "purchases", "op": "~=", "value": 1}], "operator '~=' is not allowed for 'purchases'"),
        ([{"metric": "purchases", "op": ">=", "value": "2"}], "compares with a whole number, not '2'"),
        ([{"metric": "purchases", "op": ">=", "value": 1.5}], "compares with a whole number"),
        ([{"metric": "purchases", "op": ">=", "value": True}], "compares with a whole number"),
        ([{"metric": "p_alive", "op": "<", "value": 2}], "cannot be above 1"),
        ([{"metric": "last_survey_score", "op": ">=", "value": 11}], "cannot be above 10"),
        ([{"metric": "days_since_last_purchase", "op": "=", "value": 3}], "operator '=' is not allowed"),
        ([{"metric": "bought_since_stage_entered", "op": "=", "value": 1}], "takes true or false"),
        (
            [{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["telepathy"]}}],
            "unknown touchpoint kind",
        ),
        ([{"metric": "touches", "op": ">=", "value": 1, "params": {"days": 0}}], "from 1 to 3650"),
        ([{"metric": "touches", "op": ">=", "value": 1, "params": {"weeks": 2}}], "has no parameter 'weeks'"),
        ([{"metric": "purchases", "op": ">="}], "a value is required"),
        (["purchases >= 1"], "must be an object"),
        ([], "non-empty list"),
        ("purchases >= 1", "non-empty list"),
    ],
)
def test_invalid_conditions_are_refused_with_a_clear_message(conditions, expected):
    with pytest.raises(ValidationError) as exc:
        validate_conditions(conditions)
    assert expected in messages(exc.value)


def test_valid_conditions_are_normalised():
    assert validate_conditions([{"metric": "purchases", "op": ">=", "value": 2, "params": {"days": 365}}]) == [
        {"metric": "purchases", "op": ">=", "value": 2, "params": {"days": 365}}
    ]


@pytest.mark.django_db
def test_model_clean_and_service_refuse_invalid_rules():
    rule = StageRule(name="Bad", stage=stage("loyalty"), conditions=[{"metric": "nope", "op": ">", "value": 1}])
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert "unknown metric 'nope'" in messages(exc.value)
    count = StageRule.objects.count()
    with pytest.raises(ValidationError):
        stage_rule_save(data={"name": "Bad", "stage": stage("loyalty"), "conditions": [{"metric": "purchases"}]})
    assert StageRule.objects.count() == count


@pytest.mark.django_db
def test_win_back_rule_cannot_target_an_exit_stage():
    with pytest.raises(ValidationError) as exc:
        stage_rule_save(
            data={
                "name": "Odd",
                "stage": stage("churned"),
                "is_win_back": True,
                "conditions": [{"metric": "bought_since_stage_entered", "op": "=", "value": True}],
            }
        )
    assert "win-back" in " ".join(exc.value.message_dict["stage"])


@pytest.mark.django_db
def test_service_saves_valid_rule_and_engine_uses_it():
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False):
        rule = stage_rule_save(
            data={
                "name": "Big spender",
                "stage": stage("loyalty"),
                "conditions": [{"metric": "revenue", "op": ">=", "value": 1000}],
                "priority": 5,
            }
        )
        contact = ContactFactory(stage=stage("purchase"))
        TouchpointFactory(contact=contact, kind="purchase", amount="1200.00")
        lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert contact.stage.slug == "loyalty"
    assert contact.transitions.get(source="rule").rule == rule


@pytest.mark.django_db
def test_hostile_values_never_reach_sql_text():
    """A value that looks like SQL is either refused or bound as a parameter, never spliced."""
    with pytest.raises(ValidationError):
        validate_conditions(
            [
                {
                    "metric": "touches",
                    "op": ">=",
                    "value": 1,
                    "params": {"kinds": ["x'); DROP TABLE contacts_contact;--"]},
                }
            ]
        )
    with pytest.raises(ValidationError):
        validate_conditions([{"metric": "purchases", "op": ">= 0 OR 1=1 --", "value": 1}])
    contact = ContactFactory()
    spec = RuleSpec(
        id=None,
        name="probe",
        stage_id=stage("engagement").pk,
        match="all",
        conditions=validate_conditions([{"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["chat"]}}]),
        from_stage_ids=frozenset(),
    )
    result = lifecycle_evaluate(contact_ids=[contact.pk], dry_run=True, rules=[spec])
    assert result.moved == 0


@pytest.mark.django_db
def test_p_alive_rule_reads_customer_value_and_is_false_without_it():
    from metrics.models import ContactMetrics

    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    with time_machine.travel(now, tick=False):
        stage_rule_save(
            data={
                "name": "Fading",
                "stage": stage("at_risk"),
                "conditions": [{"metric": "p_alive", "op": "<", "value": 0.2}],
            }
        )
        fading, unknown, fine = (ContactFactory(stage=stage("retention")) for _ in range(3))
        for contact in (fading, unknown, fine):
            TouchpointFactory(contact=contact, kind="purchase", occurred_at=now - dt.timedelta(days=30))
        ContactMetrics.objects.create(contact=fading, p_alive=0.05)
        ContactMetrics.objects.create(contact=fine, p_alive=0.9)
        lifecycle_evaluate(contact_ids=[fading.pk, unknown.pk, fine.pk])
    slugs = [c.stage.slug for c in (fading, unknown, fine) if c.refresh_from_db() is None]
    assert slugs == ["at_risk", "retention", "retention"]
    assert fading.transitions.get(source="rule").effective_at == now  # no event: the evaluation time


@pytest.mark.django_db
def test_any_match_takes_the_earliest_true_condition_as_the_event():
    now = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    with time_machine.travel(now, tick=False):
        stage_rule_save(
            data={
                "name": "Talked to us",
                "stage": stage("consideration"),
                "match": "any",
                "conditions": [
                    {"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["call"]}},
                    {"metric": "touches", "op": ">=", "value": 1, "params": {"kinds": ["chat"], "days": 7}},
                    {"metric": "days_since_last_touch", "op": "<", "value": 1},
                ],
            }
        )
        contact = ContactFactory(acquired_at=now - dt.timedelta(days=90))
        TouchpointFactory(contact=contact, kind="chat", occurred_at=now - dt.timedelta(days=3))
        TouchpointFactory(contact=contact, kind="call", occurred_at=now - dt.timedelta(days=20))
        TouchpointFactory(contact=contact, kind="site_visit", occurred_at=now - dt.timedelta(days=60))
        lifecycle_evaluate(contact_ids=[contact.pk])
    contact.refresh_from_db()
    assert contact.stage.slug == "consideration"
    transition = contact.transitions.get(source="rule")
    assert transition.rule.name == "Talked to us"
    assert transition.effective_at == now - dt.timedelta(days=20)  # the call, the earliest true condition


@pytest.mark.parametrize("op", [{"x": 1}, [">="], None, 3])
def test_an_operator_that_is_not_text_is_a_clear_error(op):
    """Found by the schema fuzz (issue 19): an object as `op` was a TypeError (500), not a 400."""
    with pytest.raises(ValidationError) as refused:
        validate_conditions([{"metric": "total_purchases", "op": op, "value": 1}])
    assert "operator" in str(refused.value)
