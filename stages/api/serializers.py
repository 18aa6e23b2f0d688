"""Serializers of stages, stage rules and the transition history."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stages.api.schema import CONDITIONS_SCHEMA
from stages.models import Stage, StageRule, StageTransition
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
            "note",
            "is_win_back",
        ]
        read_only_fields = fields
