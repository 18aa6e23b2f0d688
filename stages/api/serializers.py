"""Serializers of stages, stage rules and the transition history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stages.api.schema import CONDITIONS_SCHEMA
from stages.models import RuleApplication, Stage, StageRule, StageTransition
from stages.selectors import transitions_with_exit
from stages.services import stage_rule_conditions_clean


class StageSerializer(serializers.ModelSerializer):
    colour = serializers.CharField(
        max_length=7, required=False, validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A hex colour like #2563eb.")]
    )

    class Meta:
        model = Stage
        fields = ["id", "slug", "name", "position", "category", "colour", "description", "is_active"]


@extend_schema_field(CONDITIONS_SCHEMA)
class ConditionsField(serializers.JSONField):
    """A rule's conditions: parsed as JSON here, checked against the metric registry by the service."""


class StageRuleSerializer(serializers.ModelSerializer):
    """A stage rule; `conditions` are checked against the metric registry (stages.rules)."""

    stage = serializers.SlugRelatedField(slug_field="slug", queryset=Stage.objects.all())
    from_stages = serializers.SlugRelatedField(
        slug_field="slug", queryset=Stage.objects.all(), many=True, required=False, help_text="Empty: any stage."
    )
    conditions = ConditionsField()
    priority = serializers.IntegerField(min_value=-32768, max_value=32767, required=False)

    class Meta:
        model = StageRule
        fields = [
            "id",
            "name",
            "stage",
            "match",
            "conditions",
            "from_stages",
            "priority",
            "is_win_back",
            "is_active",
            "description",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_conditions(self, value):
        return stage_rule_conditions_clean(value)


class StageTransitionSerializer(serializers.ModelSerializer):
    """One stage move, for the transitions feed and a contact's history (the one shape of both)."""

    from_stage = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    to_stage = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, allow_null=True, default=None)
    # Time in stage (issue 17): when the contact left the stage this move entered (null while it is there)
    # and how long it stayed (so far, while current), in seconds of effective time.
    exited_at = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()
    api_key = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = StageTransition
        fields = [
            "id",
            "contact",
            "from_stage",
            "to_stage",
            "effective_at",
            "recorded_at",
            "source",
            "rule",
            "rule_name",
            "touchpoint",
            "user",
            "api_key",
            "actor_name",
            "note",
            "is_win_back",
            "exited_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_exited_at(self, obj: StageTransition) -> Any:
        return serializers.DateTimeField().to_representation(obj.exited_at) if _exited(obj) else None

    @extend_schema_field(serializers.IntegerField())
    def get_duration_seconds(self, obj: StageTransition) -> int:
        end = _exited(obj) or timezone.now()
        return max(int((end - obj.effective_at).total_seconds()), 0)


def _exited(obj: StageTransition) -> dt.datetime | None:
    """The annotated exit time (lists use stages.selectors.transitions_with_exit); one look-up for a lone row."""
    if not hasattr(obj, "exited_at"):
        obj.exited_at = (
            transitions_with_exit(StageTransition.objects.filter(pk=obj.pk)).values_list("exited_at", flat=True).first()
        )
    return obj.exited_at


class RuleSetDryRunSerializer(serializers.Serializer):
    """Input of a rule-set dry run: posted rules (optional), whether they replace the saved ones, a day, a page."""

    rules = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=200,
        help_text="Rules as {id?, name, stage (slug), match, conditions, from_stages (slugs), priority, is_win_back,"
        " is_active}. A rule with a saved rule's id replaces it; others are added. Omit to dry-run the saved rules.",
    )
    replace = serializers.BooleanField(default=False, help_text="Use only the posted rules.")
    as_of = serializers.DateField(required=False, help_text="Any day, past or future: nothing is written.")
    page = serializers.IntegerField(default=1, min_value=1)
    page_size = serializers.IntegerField(default=50, min_value=1, max_value=1000)


class RuleApplicationSerializer(serializers.ModelSerializer):
    """A saved rule change being applied to every contact: progress and who moved."""

    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = RuleApplication
        fields = [
            "id",
            "rule",
            "rule_name",
            "status",
            "total",
            "processed",
            "percent",
            "moved",
            "movers",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
