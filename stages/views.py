"""Stage rules without admin: a list, a structured editor (metric, operator, value from the registry) and a dry-run
preview of who the edited rule set would move, computed by the engine without writing anything."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.web_access import MARKETING, roles_required
from stages.engine import lifecycle_evaluate
from stages.engine_rules import RuleSpec, rules_active
from stages.forms import OPERATOR_LABELS, ConditionForm, ConditionFormSet, StageRuleForm
from stages.models import Stage, StageRule
from stages.rules import METRICS, validate_conditions
from stages.services import stage_rule_save


def rule_sentence(rule: StageRule) -> str:
    """A rule's conditions in words ("Purchases in the last 365 days at least 2")."""
    parts = []
    for condition in rule.conditions:
        metric = METRICS.get(condition.get("metric"))
        if metric is None:
            continue
        params = condition.get("params") or {}
        text = metric.label
        if params.get("days"):
            text += f" in the last {params['days']} days"
        value = condition.get("value")
        value_text = ("yes" if value else "no") if isinstance(value, bool) else f"{value:g}"
        parts.append(f"{text} {OPERATOR_LABELS.get(condition.get('op'), condition.get('op'))} {value_text}")
    joiner = " and " if rule.match == "all" else " or "
    return joiner.join(parts) or "no condition"


@roles_required(MARKETING)
def stage_rule_list_view(request: HttpRequest) -> HttpResponse:
    """Every stage rule, in words, by the stage it moves contacts to."""
    rules = list(StageRule.objects.select_related("stage").prefetch_related("from_stages"))
    for rule in rules:
        rule.sentence = rule_sentence(rule)
    return render(request, "stages/rule_list.html", {"rules": rules})


def _preview(rule: StageRule | None, form: StageRuleForm, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """Dry run of the whole rule set with the edited rule in place of the stored one: who would move where."""
    data = form.cleaned_data
    spec = RuleSpec(
        id=rule.pk if rule else None,
        name=f"{data['name']} (this rule)",
        stage_id=data["stage"].pk,
        match=data["match"],
        conditions=conditions,
        from_stage_ids=frozenset(s.pk for s in data.get("from_stages") or []),
        priority=data.get("priority") or 0,
        is_win_back=data.get("is_win_back") or False,
    )
    others = [r for r in rules_active() if rule is None or r.id != rule.pk]
    names = dict(Stage.objects.values_list("slug", "name"))
    result = lifecycle_evaluate(dry_run=True, rules=[*others, spec] if data.get("is_active") else others)
    return {
        "contacts": result.contacts,
        "moved": result.moved,
        "by_this_rule": result.moves_by_rule.get(spec.name, 0),
        # Stage names, not slugs, for people.
        "moves": [
            ((names.get(a, a) if a else "", names.get(b, b)), n)
            for (a, b), n in sorted(result.moves.items(), key=lambda kv: -kv[1])
        ],
    }


def _rule_editor(request: HttpRequest, rule: StageRule | None) -> HttpResponse:
    if rule is not None:
        initial = {
            "name": rule.name,
            "stage": rule.stage_id,
            "from_stages": list(rule.from_stages.all()),
            "match": rule.match,
            "priority": rule.priority,
            "is_win_back": rule.is_win_back,
            "is_active": rule.is_active,
            "description": rule.description,
        }
        conditions_initial = [ConditionForm.initial_for(c) for c in rule.conditions]
    else:
        initial, conditions_initial = {}, []
    form = StageRuleForm(request.POST or None, initial=initial)
    formset = ConditionFormSet(request.POST or None, initial=conditions_initial, prefix="conditions")
    preview = None
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        conditions = [c for c in (f.condition() for f in formset.forms if f.cleaned_data) if c]
        try:
            if "preview" in request.POST:
                preview = _preview(rule, form, validate_conditions(conditions))
            else:
                data = {**form.cleaned_data, "conditions": conditions}
                saved = stage_rule_save(rule=rule, data=data)
                messages.success(request, f"Rule “{saved.name}” saved; the next evaluation applies it.")
                return redirect("web:stage_rule_list")
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                form.add_error(field if field in form.fields else None, errors)
    return render(
        request,
        "stages/rule_form.html",
        {"form": form, "formset": formset, "rule": rule, "preview": preview, "metrics": METRICS.values()},
    )


@roles_required(MARKETING)
def stage_rule_create_view(request: HttpRequest) -> HttpResponse:
    """A new stage rule."""
    return _rule_editor(request, None)


@roles_required(MARKETING)
def stage_rule_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a stage rule."""
    return _rule_editor(request, get_object_or_404(StageRule, pk=pk))
