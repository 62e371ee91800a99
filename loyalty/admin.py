"""Read-mostly admin for support staff. Ledger entries are view-only (append-only by design)."""

from django.contrib import admin

from .models import Account, Notice, PointsEntry, ProgramRules, Reward, Tier, Voucher


@admin.register(ProgramRules)
class ProgramRulesAdmin(admin.ModelAdmin):
    list_display = ("__str__", "points_per_unit", "cap_per_ticket", "expiry_months")


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("name", "rank", "basis", "threshold", "earn_multiplier")


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "points_cost", "stock", "store", "is_active")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("id", "customer_id", "store", "balance", "tier")
    raw_id_fields = ("customer",)
    readonly_fields = ("balance",)


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    list_display = ("id", "account_id", "kind", "points", "balance_after", "occurred_at", "source")
    list_filter = ("kind", "source")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Voucher)
class VoucherAdmin(admin.ModelAdmin):
    list_display = ("code", "account_id", "reward", "issued_at", "expires_at")
    search_fields = ("code",)


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("account_id", "kind", "due_on", "points", "queued_on", "sent_at")
