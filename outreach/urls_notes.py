"""Notes and campaigns (included from crm/urls.py under /notes/)."""

from django.urls import path

from . import views_notes as v

app_name = "notes"

urlpatterns = [
    path("", v.my_notes, name="mine"),
    path("tick/", v.notes_tick, name="tick"),
    path("print/", v.notes_print, name="print"),
    path("store/", v.store_notes, name="store"),
    path("<int:pk>/reassign/", v.note_reassign_view, name="reassign"),
    path("campaigns/", v.campaign_list, name="campaigns"),
    path("campaigns/new/", v.campaign_form, name="campaign_new"),
    path("campaigns/<int:pk>/", v.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", v.campaign_form, name="campaign_edit"),
    path("campaigns/<int:pk>/queue/", v.campaign_queue, name="campaign_queue"),
    path("unsubscribe/<str:token>/", v.unsubscribe, name="unsubscribe"),
]
