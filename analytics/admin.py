"""Django admin for computed analytics rows: per-contact metrics, CLV model fits and daily stage snapshots.

All three are written by the recompute, so they are read-only here: an edit would be
overwritten by the next nightly run and would silently disagree with the touchpoints.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import CLVModelFit, ContactMetrics, ReportSnapshot, StageSnapshot
from lifecycle_crm.admin_utils import LargeTableAdminMixin


class ComputedAdmin(admin.ModelAdmin):
    """Viewable and deletable (to force a clean recompute), never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContactMetrics)
class ContactMetricsAdmin(LargeTableAdminMixin, ComputedAdmin):
    list_display = (
        "contact",
        "purchase_count",
        "revenue",
        "historic_clv",
        "predicted_clv",
        "p_alive",
        "expected_purchases",
        "rfm_segment",
        "last_purchase_at",
        "computed_at",
    )
    list_select_related = ("contact",)
    list_filter = ("rfm_segment", "recency_score", "frequency_score", "monetary_score")
    search_fields = ("=contact__email", "=contact__external_id")
    raw_id_fields = ("contact",)
    ordering = ("-predicted_clv",)


@admin.register(CLVModelFit)
class CLVModelFitAdmin(ComputedAdmin):
    list_display = (
        "as_of",
        "n_customers",
        "n_repeat_customers",
        "r",
        "alpha",
        "a",
        "b",
        "p",
        "q",
        "gamma",
        "bgnbd_loglik",
        "is_fallback",
        "duration_seconds",
        "created_at",
    )
    list_filter = ("is_fallback",)
    date_hierarchy = "as_of"


@admin.register(StageSnapshot)
class StageSnapshotAdmin(ComputedAdmin):
    list_display = ("date", "stage", "contacts")
    list_select_related = ("stage",)
    list_filter = ("stage",)
    date_hierarchy = "date"
    raw_id_fields = ("stage",)


@admin.register(ReportSnapshot)
class ReportSnapshotAdmin(ComputedAdmin):
    """Stored report results; deleting one makes the next request compute that report live."""

    list_display = ("report", "as_of", "computed_at", "duration", "query_key")
    list_filter = ("report", "as_of")
    search_fields = ("=query_key",)
    date_hierarchy = "as_of"
