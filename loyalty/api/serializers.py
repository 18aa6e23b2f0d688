"""Loyalty API serializers: explicit, typed fields; inputs of the command endpoints have their own serializers."""

from __future__ import annotations

from rest_framework import serializers

from loyalty.models import PointsEntry, Programme, Redemption, Referral, Reward, Tier, TierChange


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "slug", "name", "rank", "threshold"]


class ProgrammeSerializer(serializers.ModelSerializer):
    tiers = TierSerializer(many=True, read_only=True)

    class Meta:
        model = Programme
        fields = [
            "id",
            "name",
            "slug",
            "is_active",
            "is_default",
            "points_per_unit",
            "point_value",
            "expiry_months",
            "tier_basis",
            "tier_window_days",
            "referrer_points",
            "friend_points",
            "tiers",
        ]


class RewardSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reward
        fields = ["id", "programme", "name", "description", "points_price", "stock", "is_active"]


class PointsEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = PointsEntry
        fields = ["id", "kind", "points", "occurred_at", "recorded_at", "expires_at", "touchpoint", "rule", "note"]


class TierChangeSerializer(serializers.ModelSerializer):
    from_tier = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    to_tier = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = TierChange
        fields = ["id", "from_tier", "to_tier", "effective_at", "recorded_at", "announced"]


class MemberSerializer(serializers.Serializer):
    """A contact's standing in the default programme."""

    contact = serializers.IntegerField()
    programme = serializers.IntegerField(allow_null=True)
    balance = serializers.IntegerField()
    tier = serializers.CharField(allow_null=True)
    next_tier = serializers.CharField(allow_null=True)
    window_value = serializers.FloatField()
    progress_percent = serializers.IntegerField()
    referral_code = serializers.CharField()
    member_link = serializers.CharField(help_text="The customer's own redemption link (no login).")


class RedemptionSerializer(serializers.ModelSerializer):
    contact = serializers.IntegerField(source="member.contact_id", read_only=True)
    reward_name = serializers.CharField(source="reward.name", read_only=True)

    class Meta:
        model = Redemption
        fields = ["id", "contact", "reward", "reward_name", "points", "channel", "created_at"]


class RedeemInputSerializer(serializers.Serializer):
    contact = serializers.IntegerField(min_value=1)
    reward = serializers.IntegerField(min_value=1)


class AdjustInputSerializer(serializers.Serializer):
    contact = serializers.IntegerField(min_value=1)
    points = serializers.IntegerField(min_value=-10_000_000, max_value=10_000_000)
    note = serializers.CharField(max_length=200)


class ReferralSerializer(serializers.ModelSerializer):
    class Meta:
        model = Referral
        fields = [
            "id",
            "referrer",
            "referred",
            "invited_email",
            "status",
            "created_at",
            "signed_up_at",
            "purchased_at",
            "purchase",
        ]


class ReferralInviteInputSerializer(serializers.Serializer):
    referrer = serializers.IntegerField(min_value=1)
    email = serializers.EmailField()


class ReferralSignUpInputSerializer(serializers.Serializer):
    contact = serializers.IntegerField(min_value=1)
    referral_code = serializers.CharField(max_length=40)
