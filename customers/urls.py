from django.urls import path

from . import kiosk, views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/notes/", views.note_add, name="note_add"),
    path("<int:pk>/feedback/new/", views.feedback_add, name="feedback_add"),
    path("<int:pk>/consent/", views.consent_edit, name="consent"),
    path("<int:pk>/card/", views.customer_card, name="card"),
    path("<int:pk>/sheet.pdf", views.customer_sheet, name="sheet"),
    path("<int:pk>/export.json", views.customer_data_export, name="data_export"),
    path("<int:pk>/erase/", views.customer_erase, name="erase"),
    path("feedback/<int:pk>/", views.feedback_detail, name="feedback"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("duplicates/merge/<int:keep>/<int:duplicate>/", views.merge, name="merge"),
    path("kiosk/", kiosk.kiosk_start, name="kiosk_start"),
    path("kiosk/pin/", kiosk.kiosk_pin, name="kiosk_pin"),
    path("kiosk/signup/", kiosk.kiosk_signup, name="kiosk_signup"),
    path("kiosk/welcome/", kiosk.kiosk_done, name="kiosk_done"),
    path("kiosk/exit/", kiosk.kiosk_exit, name="kiosk_exit"),
    path("switch-store/", views.store_switch, name="store_switch"),
]

# --- POS tickets: imports and API tokens (owner: the "pos" helper) ---
from . import views_imports  # noqa: E402

urlpatterns += [
    path("imports/", views_imports.import_list, name="imports"),
    path("imports/<int:pk>/", views_imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/progress/", views_imports.import_progress_json, name="import_progress"),
    path("imports/<int:pk>/confirm/", views_imports.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/cancel/", views_imports.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/errors.csv", views_imports.import_errors_csv, name="import_errors"),
    path("api-tokens/", views_imports.api_tokens, name="api_tokens"),
    path("api-tokens/<int:pk>/revoke/", views_imports.api_token_revoke_view, name="api_token_revoke"),
]

# --- The audit log (owners) ---
from . import views_audit  # noqa: E402

urlpatterns += [
    path("audit/", views_audit.audit_log, name="audit_log"),
    path("audit/log.csv", views_audit.audit_log_csv, name="audit_log_csv"),
]
