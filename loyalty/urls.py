from django.urls import path

from . import views

app_name = "loyalty"

urlpatterns = [
    path("redeem/", views.counter, name="counter"),
    path("redeem/<int:customer_pk>/", views.counter_customer, name="counter_customer"),
    path("redeem/<int:customer_pk>/redeem/", views.redeem, name="redeem"),
    path("redeem/<int:customer_pk>/adjust/", views.adjust, name="adjust"),
    path("vouchers/use/", views.voucher_use, name="voucher_use"),
    path("return-code/", views.return_code, name="return_code"),
    path("vouchers/<str:code>/", views.voucher_detail, name="voucher"),
    path("rewards/", views.reward_list, name="reward_list"),
    path("rewards/new/", views.reward_create, name="reward_create"),
    path("rewards/<int:pk>/", views.reward_edit, name="reward_edit"),
    path("liability/", views.liability, name="liability"),
    path("rules/", views.rules_overview, name="rules"),
    path("rules/chain/", views.rules_chain_edit, name="rules_chain"),
    path("rules/store/<int:store_pk>/", views.rules_store_edit, name="rules_store"),
    path("tiers/new/", views.tier_create, name="tier_create"),
    path("tiers/<int:pk>/", views.tier_edit, name="tier_edit"),
]
