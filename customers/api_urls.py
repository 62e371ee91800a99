"""POS API routes of the customer file, included under /api/v1/ (namespace "api") by crm/urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("tickets/", api.TicketsView.as_view(), name="tickets"),
    path("customers/by-card/<str:card>/", api.CustomerByCardView.as_view(), name="customer_by_card"),
]
