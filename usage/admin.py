from django.contrib import admin

from .models import DailyUsage, UsageCutoff, UsageEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Usage is written by the API only; staff read it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "organization", "event_type", "quantity", "idempotency_key", "livemode"]
    list_filter = ["livemode", "event_type", "metric"]
    search_fields = ["organization__name", "organization__slug", "idempotency_key", "endpoint"]
    list_select_related = ["organization"]
    date_hierarchy = "timestamp"
    show_full_result_count = False


@admin.register(DailyUsage)
class DailyUsageAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "starts_at",
        "organization",
        "metric",
        "quantity",
        "event_count",
        "max_quantity",
        "unique_count",
    ]
    list_filter = ["metric", "day"]
    search_fields = ["organization__name", "organization__slug"]
    list_select_related = ["organization", "metric"]
    date_hierarchy = "day"


@admin.register(UsageCutoff)
class UsageCutoffAdmin(ReadOnlyAdmin):
    list_display = ["organization", "closed_before", "updated_at"]
    search_fields = ["organization__name", "organization__slug"]
