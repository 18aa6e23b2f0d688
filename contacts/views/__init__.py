"""Dashboard pages of contacts, one module per responsibility; the URL configuration reads the views from here."""

from contacts.views.detail import (
    contact_detail_view,
    contact_move_view,
    contact_stage_view,
    risk_explanation,
    touchpoint_log_view,
)
from contacts.views.duplicates import duplicates_view, merge_view
from contacts.views.editing import (
    contact_create_view,
    contact_edit_view,
    touchpoint_delete_view,
    touchpoint_edit_view,
    touchpoint_undo_view,
)
from contacts.views.imports import (
    import_detail_view,
    import_list_view,
    import_rejections_csv_view,
    import_sample_csv_view,
    import_status_view,
)
from contacts.views.lists import (
    _decode_cursor,
    _encode_cursor,
    contact_bulk_view,
    contact_export_view,
    contact_list_view,
    keyset_page,
    segment_save_view,
)
from contacts.views.my import home_view, my_contacts_queryset, my_contacts_view

__all__ = [
    "_decode_cursor",
    "_encode_cursor",
    "contact_bulk_view",
    "contact_create_view",
    "contact_detail_view",
    "contact_edit_view",
    "contact_export_view",
    "contact_list_view",
    "contact_move_view",
    "contact_stage_view",
    "duplicates_view",
    "home_view",
    "import_detail_view",
    "import_list_view",
    "import_rejections_csv_view",
    "import_sample_csv_view",
    "import_status_view",
    "keyset_page",
    "merge_view",
    "my_contacts_queryset",
    "my_contacts_view",
    "risk_explanation",
    "segment_save_view",
    "touchpoint_delete_view",
    "touchpoint_edit_view",
    "touchpoint_log_view",
    "touchpoint_undo_view",
]
