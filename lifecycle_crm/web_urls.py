"""Dashboard routes (server-rendered pages for marketers and reps), all under the `web` namespace."""

from django.urls import include, path

from analytics import views as analytics_views
from campaigns import views as campaign_views
from contacts import views as contact_views
from notifications import views as notification_views
from stages import views as stage_views

app_name = "web"

urlpatterns = [
    path("", contact_views.home_view, name="home"),
    path("overview/", analytics_views.overview_view, name="overview"),
    path("overview/<slug:key>.csv", analytics_views.chart_csv_view, name="chart_csv"),
    path("overview/kpis/", analytics_views.overview_kpis_view, name="overview_kpis"),
    path("overview/charts/<slug:key>/", analytics_views.overview_chart_view, name="overview_chart"),
    path("my/", contact_views.my_contacts_view, name="my_contacts"),
    path("contacts/", contact_views.contact_list_view, name="contact_list"),
    path("contacts/export.csv", contact_views.contact_export_view, name="contact_export"),
    path("contacts/bulk/", contact_views.contact_bulk_view, name="contact_bulk"),
    path("contacts/segments/", contact_views.segment_save_view, name="segment_save"),
    path("contacts/duplicates/", contact_views.duplicates_view, name="duplicates"),
    path("contacts/merge/", contact_views.merge_view, name="merge"),
    path("contacts/<int:pk>/", contact_views.contact_detail_view, name="contact_detail"),
    path("contacts/<int:pk>/touchpoints/", contact_views.touchpoint_log_view, name="touchpoint_log"),
    path("contacts/<int:pk>/stage.json", contact_views.contact_stage_view, name="contact_stage"),
    path("contacts/<int:pk>/move/", contact_views.contact_move_view, name="contact_move"),
    path("campaigns/", campaign_views.campaign_list_view, name="campaign_list"),
    path("campaigns/new/", campaign_views.campaign_create_view, name="campaign_create"),
    path("campaigns/<int:pk>/", campaign_views.campaign_detail_view, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", campaign_views.campaign_edit_view, name="campaign_edit"),
    path("imports/", contact_views.import_list_view, name="import_list"),
    path("imports/<int:pk>/", contact_views.import_detail_view, name="import_detail"),
    path("imports/<int:pk>/status.json", contact_views.import_status_view, name="import_status"),
    path("imports/<int:pk>/rejected.csv", contact_views.import_rejections_csv_view, name="import_rejections_csv"),
    # --- issue 21: contacts and touchpoints changed in the app ---
    path("contacts/new/", contact_views.contact_create_view, name="contact_create"),
    path("contacts/<int:pk>/edit/", contact_views.contact_edit_view, name="contact_edit"),
    path("touchpoints/<int:pk>/edit/", contact_views.touchpoint_edit_view, name="touchpoint_edit"),
    path("touchpoints/<int:pk>/delete/", contact_views.touchpoint_delete_view, name="touchpoint_delete"),
    path("touchpoints/changes/<int:pk>/undo/", contact_views.touchpoint_undo_view, name="touchpoint_undo"),
    path("notifications/", notification_views.notification_list_view, name="notifications"),
    path("notifications/email/", notification_views.notification_preference_view, name="notification_preference"),
    path("rules/", stage_views.stage_rule_list_view, name="stage_rule_list"),
    path("rules/new/", stage_views.stage_rule_create_view, name="stage_rule_create"),
    path("rules/<int:pk>/", stage_views.stage_rule_edit_view, name="stage_rule_edit"),
    path("imports/sample-<slug:kind>.csv", contact_views.import_sample_csv_view, name="import_sample_csv"),
    # --- end issue 21 ---
    path("", include("plays.urls")),  # plays: play list/detail, My tasks, unsubscribe (namespace web:plays)
]
