"""Django admin for the per-contact facts: read-only, since the recompute writes them."""

from __future__ import annotations

from django.contrib import admin

from lifecycle_crm.admin_utils import ComputedAdmin, LargeTableAdminMixin
from metrics.models import ContactMetrics


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
