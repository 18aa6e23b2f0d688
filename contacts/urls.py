"""Dashboard routes of contacts: home, contact list and pages, bulk actions, segments, duplicates, imports.

Included by lifecycle_crm.web_urls without a namespace of their own, so the names stay `web:<name>`.
"""

from django.urls import path

from contacts import views

urlpatterns = [
    path("", views.home_view, name="home"),
    path("my/", views.my_contacts_view, name="my_contacts"),
    path("contacts/", views.contact_list_view, name="contact_list"),
    path("contacts/export.csv", views.contact_export_view, name="contact_export"),
    path("contacts/bulk/", views.contact_bulk_view, name="contact_bulk"),
    path("contacts/segments/", views.segment_save_view, name="segment_save"),
    path("contacts/duplicates/", views.duplicates_view, name="duplicates"),
    path("contacts/merge/", views.merge_view, name="merge"),
    path("contacts/<int:pk>/", views.contact_detail_view, name="contact_detail"),
    path("contacts/<int:pk>/touchpoints/", views.touchpoint_log_view, name="touchpoint_log"),
    path("contacts/<int:pk>/stage.json", views.contact_stage_view, name="contact_stage"),
    path("contacts/<int:pk>/move/", views.contact_move_view, name="contact_move"),
    path("imports/", views.import_list_view, name="import_list"),
    path("imports/<int:pk>/", views.import_detail_view, name="import_detail"),
    path("imports/<int:pk>/status.json", views.import_status_view, name="import_status"),
    path("imports/<int:pk>/rejected.csv", views.import_rejections_csv_view, name="import_rejections_csv"),
]
