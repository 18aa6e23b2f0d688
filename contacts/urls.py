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
    # issue 21: contacts and touchpoints changed in the app, sample import files
    path("contacts/new/", views.contact_create_view, name="contact_create"),
    path("contacts/<int:pk>/edit/", views.contact_edit_view, name="contact_edit"),
    path("touchpoints/<int:pk>/edit/", views.touchpoint_edit_view, name="touchpoint_edit"),
    path("touchpoints/<int:pk>/delete/", views.touchpoint_delete_view, name="touchpoint_delete"),
    path("touchpoints/changes/<int:pk>/undo/", views.touchpoint_undo_view, name="touchpoint_undo"),
    path("imports/sample-<slug:kind>.csv", views.import_sample_csv_view, name="import_sample_csv"),
]
