"""Dashboard routes of analytics: the overview page, its KPI block, its charts and their CSV.

Included by lifecycle_crm.web_urls without a namespace of their own, so the names stay `web:<name>`.
"""

from django.urls import path

from analytics import views

urlpatterns = [
    path("overview/", views.overview_view, name="overview"),
    path("overview/<slug:key>.csv", views.chart_csv_view, name="chart_csv"),
    path("overview/kpis/", views.overview_kpis_view, name="overview_kpis"),
    path("overview/charts/<slug:key>/", views.overview_chart_view, name="overview_chart"),
]
