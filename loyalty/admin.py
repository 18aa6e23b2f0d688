"""Django admin for loyalty: programmes with their rules and tiers, rewards, and the read-only ledger and history."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from lifecycle_crm.admin_utils import LargeTableAdminMixin
from loyalty.models import (
    EarningRule,
    Membership,
    PointsEntry,
    Programme,
    Redemption,
    Referral,
    Reward,
    Tier,
    TierChange,
)


class TierInline(admin.TabularInline):
    model = Tier
    extra = 0


class EarningRuleInline(admin.TabularInline):
    model = EarningRule
    extra = 0
    fk_name = "programme"
    fields = ("name", "kind", "points", "touchpoint_kind", "stage", "tier", "campaign", "multiplier", "is_active")
    autocomplete_fields = ("campaign",)


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_default", "is_active", "points_per_unit", "point_value", "expiry_months")
    list_filter = ("is_active", "is_default")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("touchpoints_through", "transitions_through", "created_at")
    inlines = [TierInline, EarningRuleInline]


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "programme",
        "kind",
        "points",
        "touchpoint_kind",
        "stage",
        "tier",
        "multiplier",
        "is_active",
    )
    list_filter = ("programme", "kind", "is_active")
    search_fields = ("name",)
    autocomplete_fields = ("campaign",)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("name", "programme", "rank", "threshold")
    list_filter = ("programme",)
    search_fields = ("name", "slug")


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = ("name", "programme", "points_price", "stock", "is_active")
    list_filter = ("programme", "is_active")
    search_fields = ("name",)


class _ReadOnlyAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """History is written by the services only: no add, change or delete here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(PointsEntry)
class PointsEntryAdmin(_ReadOnlyAdmin):
    list_display = ("id", "member", "kind", "points", "occurred_at", "expires_at", "note")
    list_filter = ("kind",)
    search_fields = ("member__contact__email", "note")
    list_select_related = ("member",)
    raw_id_fields = ("member", "touchpoint", "transition", "referral")


@admin.register(Membership)
class MembershipAdmin(_ReadOnlyAdmin):
    list_display = ("contact", "programme", "tier", "tier_since", "joined_at")
    list_filter = ("programme", "tier")
    search_fields = ("contact__email",)
    list_select_related = ("contact", "programme", "tier")
    raw_id_fields = ("contact",)


@admin.register(TierChange)
class TierChangeAdmin(_ReadOnlyAdmin):
    list_display = ("member", "from_tier", "to_tier", "effective_at", "recorded_at", "announced")
    list_filter = ("to_tier", "announced")
    raw_id_fields = ("member",)


@admin.register(Redemption)
class RedemptionAdmin(_ReadOnlyAdmin):
    list_display = ("id", "member", "reward", "points", "channel", "created_at")
    list_filter = ("channel", "reward")
    raw_id_fields = ("member", "entry")


@admin.register(Referral)
class ReferralAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("id", "referrer", "referred", "invited_email", "status", "signed_up_at", "purchased_at")
    list_filter = ("status",)
    search_fields = ("referrer__email", "referred__email", "invited_email")
    raw_id_fields = ("referrer", "referred", "purchase")
    readonly_fields = ("status", "signed_up_at", "purchased_at", "purchase", "converted_recorded_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
