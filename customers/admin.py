from django.contrib import admin

from .models import Customer, Membership, PurchaseTicket, Store


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "time_zone", "currency", "country", "locale")
    search_fields = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "store", "is_active", "on_leave")
    list_filter = ("role", "store", "is_active", "on_leave")
    raw_id_fields = ("user",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "first_name", "last_name", "home_store", "created_at")
    list_filter = ("home_store",)
    search_fields = ("first_name", "last_name", "email", "phone")
    show_full_result_count = False


@admin.register(PurchaseTicket)
class PurchaseTicketAdmin(admin.ModelAdmin):
    list_display = ("number", "store", "purchased_at", "total", "is_return", "customer_id")
    list_filter = ("store", "is_return")
    raw_id_fields = ("customer", "original", "served_by")
    show_full_result_count = False
