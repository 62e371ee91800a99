"""Admin for segmentation: the settings (chain row and store overrides) and a read-only run log."""

from django.contrib import admin

from .models import SegmentPolicy, SegmentRun


@admin.register(SegmentPolicy)
class SegmentPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "best_top_n", "best_top_percent", "lapse_multiplier", "lapse_floor_days", "updated_at")


@admin.register(SegmentRun)
class SegmentRunAdmin(admin.ModelAdmin):
    list_display = ("id", "scope_key", "as_of", "mode", "status", "started_at", "finished_at", "changes")
    list_filter = ("status", "mode", "scope_key")
    readonly_fields = [f.name for f in SegmentRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
