"""`/api/v1/analytics/<report>/` for every report module, and `/api/v1/analytics/clv/model/`."""

from django.urls import path

from analytics.api.views import ClvBacktestApi, ClvModelApi, discover_reports, report_view

# Public names promised in DESIGN.md for modules named otherwise.
ALIASES = {"cohort_retention": "retention", "stage_flow": "flow"}

urlpatterns = [
    path("analytics/clv/model/", ClvModelApi.as_view(), name="analytics-clv-model"),
    path("analytics/clv/backtest/", ClvBacktestApi.as_view(), name="analytics-clv-backtest"),
]
for spec in discover_reports():
    for name in (spec.name, ALIASES.get(spec.name)):
        if name:
            urlpatterns.append(
                path(f"analytics/{name}/", report_view(spec, name=name).as_view(), name=f"analytics-{name}")
            )
