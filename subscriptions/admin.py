from django.contrib import admin

from .models import Subscription, SubscriptionEvent


class SubscriptionEventInline(admin.TabularInline):
    model = SubscriptionEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "event", "from_status", "to_status", "reason", "actor", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "organization",
        "plan",
        "status",
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "trial_end",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["organization__name", "organization__slug", "id"]
    list_select_related = ["organization", "plan"]
    readonly_fields = [
        "id",
        "organization",
        "status",
        "billing_anchor",
        "current_period_start",
        "current_period_end",
        "canceled_at",
        "ended_at",
        "created_at",
        "updated_at",
    ]
    fields = [
        "id",
        "organization",
        "plan",
        "status",
        "billing_anchor",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "cancel_reason",
        "canceled_at",
        "ended_at",
        "scheduled_plan",
        "gateway",
        "payment_method",
        "created_at",
        "updated_at",
    ]
    inlines = [SubscriptionEventInline]

    def has_add_permission(self, request):
        return False  # subscriptions start at checkout

    def has_delete_permission(self, request, obj=None):
        return False
