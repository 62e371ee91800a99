from django.urls import path

from . import views

app_name = "outreach"

urlpatterns = [
    path("", views.segment_overview, name="segments"),
    path("refresh/", views.segment_refresh, name="refresh"),
    path("status/", views.segment_status, name="status"),
    path("<slug:name>/", views.segment_members, name="members"),
]
