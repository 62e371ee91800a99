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
