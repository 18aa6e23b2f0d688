"""Dashboard routes of campaigns: list, detail, create and edit.

Included by lifecycle_crm.web_urls without a namespace of their own, so the names stay `web:<name>`.
"""

from django.urls import path

from campaigns import views

urlpatterns = [
    path("campaigns/", views.campaign_list_view, name="campaign_list"),
    path("campaigns/new/", views.campaign_create_view, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail_view, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit_view, name="campaign_edit"),
]
