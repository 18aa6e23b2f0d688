"""Serializers of campaigns and segments: shapes and field types; campaigns.services checks the rest."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.drainage import get_override
from drf_spectacular.plumbing import build_basic_type, is_basic_type
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign, Segment
from contacts.filters import ContactFilterSet
from stages.models import Stage

_TEXT_LIST = {"type": "array", "items": {"type": "string"}}


def _filter_value_schema(filter_: django_filters.Filter) -> dict[str, Any]:
    """One saved filter's value: its typed form, or the text form the dashboard stores (`"true"`, `["3"]`)."""
    typed = get_override(filter_, "field")
    if typed is not None and is_basic_type(typed):
        typed = build_basic_type(typed)
    elif typed is None:
        if isinstance(filter_, django_filters.MultipleChoiceFilter):
            choices = [str(value) for value, _ in filter_.extra.get("choices", [])]
            typed = {"type": "array", "items": {"type": "string", **({"enum": choices} if choices else {})}}
        elif isinstance(filter_, django_filters.ChoiceFilter):
            typed = {"type": "string", "enum": [str(value) for value, _ in filter_.extra.get("choices", [])]}
        else:
            typed = {"type": "string"}
    if typed.get("type") == "string":
        return typed
    forms = [typed, {"type": "string"}]
    if typed != _TEXT_LIST:
        forms.append(_TEXT_LIST)
    return {"anyOf": forms}


def _segment_filters_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, filter_ in ContactFilterSet.base_filters.items():
        if isinstance(filter_, django_filters.DateFromToRangeFilter):
            for suffix in ("after", "before"):
                properties[f"{name}_{suffix}"] = {"type": "string", "format": "date"}
        else:
            properties[name] = _filter_value_schema(filter_)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": "Contact-list filters: the query parameters of GET /contacts/, as values or lists.",
    }


@extend_schema_field(_segment_filters_schema())
class SegmentFiltersField(serializers.JSONField):
    """A segment's saved filters, checked by ContactFilterSet.validate_saved."""


class SegmentSerializer(serializers.ModelSerializer):
    """A saved contact filter: `filters` holds contact-list query parameters, e.g. {"stage": ["at_risk"]}."""

    filters = SegmentFiltersField()

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "filters", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class CampaignSerializer(serializers.ModelSerializer):
    objective = serializers.SlugRelatedField(
        slug_field="slug", queryset=Stage.objects.all(), required=False, allow_null=True, help_text="Target stage."
    )
    cost = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    utm_campaign = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "description",
            "objective",
            "channel",
            "status",
            "starts_on",
            "ends_on",
            "cost",
            "segment",
            "utm_campaign",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_by", "created_at", "updated_at"]
        validators: list = []  # campaigns.services.campaign_save checks them and answers with field names
