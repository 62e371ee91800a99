"""Dashboard (managers and up) and exports (owners). Included from crm/urls.py under /dashboard/."""

from django.urls import path

from . import views_dashboard as views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard, name="index"),
    path("exports/", views.export_index, name="exports"),
    path("exports/download/", views.export_download, name="export_download"),
    path("exports/start/", views.export_start, name="export_start"),
    path("exports/<int:pk>/", views.export_job, name="export_job"),
    path("exports/<int:pk>/status/", views.export_job_status, name="export_job_status"),
    path("exports/<int:pk>/file/", views.export_job_file, name="export_job_file"),
]
