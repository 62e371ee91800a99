from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("<int:pk>/", views.customer_detail, name="detail"),
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
