from django.contrib import admin

from .models import ConsentEvent, Customer, Feedback, Membership, PurchaseTicket, ServiceNote, Store, Tag


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "time_zone", "currency", "country", "locale", "calendar")
    search_fields = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        """Role changes made here land in the audit log like any other."""
        from .services import audit_record

        before = type(obj).objects.filter(pk=obj.pk).values_list("role", flat=True).first() if change else ""
        super().save_model(request, obj, form, change)
        if before != obj.role:
            audit_record(
                actor=request.user, action="role", target=obj.user, store=obj.store,
                details={"from": before or "", "to": obj.role, "via": "admin"},
            )  # fmt: skip

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


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(ServiceNote)
class ServiceNoteAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "author", "store", "created_at")
    raw_id_fields = ("customer", "author")


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """Read-only: the consent ledger only grows, through ``consent_record``."""

    list_display = ("id", "customer_id", "channel", "granted", "source", "at", "store")
    list_filter = ("channel", "granted", "source")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "kind", "reason", "status", "created_at")
    list_filter = ("kind", "reason", "status")
    raw_id_fields = ("customer", "ticket", "responded_by", "created_by")
