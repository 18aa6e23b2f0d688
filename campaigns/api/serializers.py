"""Serializers of campaigns and segments: shapes and field types; campaigns.services checks the rest."""

from __future__ import annotations

from rest_framework import serializers

from campaigns.models import Campaign, Segment
from stages.models import Stage


class SegmentSerializer(serializers.ModelSerializer):
    """A saved contact filter: `filters` holds contact-list query parameters, e.g. {"stage": ["at_risk"]}."""

    filters = serializers.JSONField(help_text="Contact-list filters (the parameters of GET /contacts/).")

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
