"""Django admin for campaigns, segments and campaign members."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from campaigns.models import Campaign, CampaignMember, Segment
from lifecycle_crm.admin_utils import LargeTableAdminMixin


class CreatedByMixin:
    """Records who created the row; the field is read-only in the form."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Segment)
class SegmentAdmin(CreatedByMixin, admin.ModelAdmin):
    list_display = ("name", "description", "created_by", "updated_at")
    list_select_related = ("created_by",)
    search_fields = ("name", "description")
    readonly_fields = ("created_by", "created_at", "updated_at")
    fields = ("name", "description", "filters", "created_by", "created_at", "updated_at")


@admin.register(Campaign)
class CampaignAdmin(CreatedByMixin, admin.ModelAdmin):
    list_display = ("name", "status", "channel", "objective", "starts_on", "ends_on", "cost", "utm_campaign", "segment")
    list_select_related = ("objective", "segment")
    list_filter = ("status", "channel", "objective", "starts_on")
    search_fields = ("name", "=utm_campaign")
    date_hierarchy = "starts_on"  # campaigns are few: the year/month drill-down is cheap
    raw_id_fields = ("objective",)
    autocomplete_fields = ("segment",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "status", "objective", "channel", "segment")}),
        ("Schedule and budget", {"fields": ("starts_on", "ends_on", "cost", "utm_campaign")}),
        ("Record", {"fields": ("created_by", "created_at", "updated_at"), "classes": ("collapse",)}),
    )


@admin.register(CampaignMember)
class CampaignMemberAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("campaign", "contact", "enrolled_at", "source")
    list_select_related = ("campaign", "contact")
    list_filter = ("source", "campaign")
    search_fields = ("=contact__email", "=contact__external_id", "campaign__name")
    autocomplete_fields = ("campaign", "contact")
