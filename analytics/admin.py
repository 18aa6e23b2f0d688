"""Django admin for computed analytics rows: CLV model fits and report snapshots.

Both are written by the recompute, so they are read-only here: an edit would be
overwritten by the next nightly run and would silently disagree with the touchpoints.
"""

from __future__ import annotations

from django.contrib import admin

from analytics.models import CLVBacktest, CLVModelFit, ReportSnapshot
from lifecycle_crm.admin_utils import ComputedAdmin


@admin.register(CLVModelFit)
class CLVModelFitAdmin(ComputedAdmin):
    list_display = (
        "as_of",
        "kind",
        "model",
        "n_customers",
        "n_repeat_customers",
        "loglik",
        "holdout_mae",
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
    list_filter = ("kind", "model", "is_fallback")
    date_hierarchy = "as_of"
    list_select_related = ("backtest",)


@admin.register(CLVBacktest)
class CLVBacktestAdmin(ComputedAdmin):
    """Calibration/holdout backtests of the purchase models (issue 18); the model to pin is CRM_CLV_MODEL."""

    list_display = (
        "as_of",
        "calibration_end",
        "holdout_end",
        "n_customers",
        "actual_total",
        "chosen_model",
        "created_at",
    )
    list_filter = ("chosen_model",)
    date_hierarchy = "as_of"


@admin.register(ReportSnapshot)
class ReportSnapshotAdmin(ComputedAdmin):
    """Stored report results; deleting one makes the next request compute that report live."""

    list_display = ("report", "as_of", "computed_at", "duration", "query_key")
    list_filter = ("report", "as_of")
    search_fields = ("=query_key",)
    date_hierarchy = "as_of"
