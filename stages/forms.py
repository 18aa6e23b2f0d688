"""Forms of the stage-rule editor: the rule and its conditions, each a metric, an operator and a value picked from
the rule-metric registry (stages.rules) — no JSON typed by hand."""

from __future__ import annotations

from typing import Any

from django import forms

from contacts.models import TouchpointKind
from stages.models import RuleMatch, Stage
from stages.rules import METRICS

OPERATOR_LABELS = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "less than",
    "=": "exactly",
    "!=": "not",
}


class StageRuleForm(forms.Form):
    """A rule: which stage it places contacts in, from which stages, and how its conditions combine."""

    name = forms.CharField(max_length=120, error_messages={"required": "Give the rule a name."})
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.filter(is_active=True), label="Moves contacts to", empty_label="Choose a stage"
    )
    from_stages = forms.ModelMultipleChoiceField(
        queryset=Stage.objects.filter(is_active=True),
        required=False,
        label="Only from these stages",
        help_text="None chosen: from any stage the movement policy allows.",
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    match = forms.ChoiceField(choices=RuleMatch.choices, initial=RuleMatch.ALL, label="Needs")
    priority = forms.IntegerField(initial=0, min_value=-100, max_value=100)
    is_win_back = forms.BooleanField(required=False, label="Brings contacts back from an exit stage (win-back)")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ConditionForm(forms.Form):
    """One condition: a registry metric, an operator and a value, with the metric's optional parameters."""

    metric = forms.ChoiceField(
        choices=[("", "—")] + [(m.name, m.label) for m in METRICS.values()], required=False, label="Measure"
    )
    op = forms.ChoiceField(choices=list(OPERATOR_LABELS.items()), required=False, label="Is")
    value = forms.CharField(required=False, max_length=40, help_text="A number, or yes / no.")
    days = forms.IntegerField(required=False, min_value=1, max_value=3650, label="In the last (days)")
    kinds = forms.MultipleChoiceField(
        choices=TouchpointKind.choices,
        required=False,
        label="Of these kinds",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )

    def condition(self) -> dict[str, Any] | None:
        """The condition as the registry takes it, or None for an empty row."""
        data = self.cleaned_data
        name = data.get("metric")
        if not name:
            return None
        metric = METRICS[name]
        raw = (data.get("value") or "").strip()
        value: Any = raw
        if metric.value_type == "bool":
            value = raw.lower() in ("yes", "true", "1", "y")
        else:
            try:
                value = int(raw) if metric.value_type == "int" else float(raw.replace(",", "."))
            except ValueError:
                value = raw  # the registry says what it wants
        op = data.get("op") or next(iter(metric.ops))
        params: dict[str, Any] = {}
        if "days" in metric.params and data.get("days"):
            params["days"] = data["days"]
        if "kinds" in metric.params and data.get("kinds"):
            params["kinds"] = list(data["kinds"])
        return {"metric": name, "op": op, "value": value, "params": params}

    @staticmethod
    def initial_for(condition: dict[str, Any]) -> dict[str, Any]:
        value = condition.get("value")
        params = condition.get("params") or {}
        return {
            "metric": condition.get("metric"),
            "op": condition.get("op"),
            "value": ("yes" if value else "no") if isinstance(value, bool) else value,
            "days": params.get("days"),
            "kinds": params.get("kinds") or [],
        }


ConditionFormSet = forms.formset_factory(ConditionForm, extra=2, max_num=12)
