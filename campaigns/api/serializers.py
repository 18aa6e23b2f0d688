"""Serializers of campaigns and segments."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from campaigns.models import Campaign, Segment
from contacts.filters import ContactFilterSet
from stages.models import Stage


class SegmentSerializer(serializers.ModelSerializer):
    """A saved contact filter: `filters` holds contact-list query parameters, e.g. {"stage": ["at_risk"]}."""

    filters = serializers.JSONField(help_text="Contact-list filters (the parameters of GET /contacts/).")

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "filters", "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]

    def validate_filters(self, value):
        if self.instance is not None and isinstance(value, dict) and value.get("segment") == self.instance.pk:
            raise serializers.ValidationError("A segment cannot refer to itself.")
        try:
            return ContactFilterSet.validate_saved(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


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
        validators: list = []  # the checks below answer with field names

    def validate_utm_campaign(self, value):
        value = (value or "").strip() or None
        if value:
            taken = Campaign.objects.filter(utm_campaign=value)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise serializers.ValidationError("Another campaign uses this UTM code.")
        return value

    def validate(self, attrs):
        starts = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"ends_on": "The campaign ends before it starts."})
        return attrs
