"""Dashboard routes of analytics: the overview page, its KPI block, its charts and their CSV.

Included by lifecycle_crm.web_urls without a namespace of their own, so the names stay `web:<name>`.
"""

from django.urls import path

from analytics import clv_views, views

urlpatterns = [
    path("overview/", views.overview_view, name="overview"),
    path("overview/<slug:key>.csv", views.chart_csv_view, name="chart_csv"),
    path("overview/kpis/", views.overview_kpis_view, name="overview_kpis"),
    path("analytics/clv/model/", clv_views.clv_model_view, name="clv_model"),
    path("analytics/clv/model/<slug:key>.csv", clv_views.clv_model_csv_view, name="clv_model_csv"),
    path("overview/charts/<slug:key>/", views.overview_chart_view, name="overview_chart"),
]
