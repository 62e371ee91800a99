"""POS API routes, mounted at /api/v1/loyalty/ (namespace ``loyalty_api``)."""

from django.urls import path

from . import api

urlpatterns = [
    path("cards/<str:card>/", api.card_detail, name="card"),
    path("cards/<str:card>/redemptions/", api.card_redeem, name="redeem"),
    path("vouchers/<str:code>/use/", api.voucher_use, name="voucher_use"),
]
