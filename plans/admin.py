from django.contrib import admin
from django.db.models import Count

from .models import BillableMetric, Plan, PlanCharge


class PlanChargeInline(admin.TabularInline):
    model = PlanCharge
    extra = 0
    autocomplete_fields = ["metric"]
    fields = ["metric", "included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers"]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "price_cents", "currency", "interval", "trial_days", "is_active", "is_default"]
    list_filter = ["is_active", "interval", "currency"]
    search_fields = ["name", "code"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [PlanChargeInline]


class MetricChargeInline(admin.TabularInline):
    model = PlanCharge
    fk_name = "metric"
    extra = 0
    fields = ["plan", "included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers"]


@admin.register(BillableMetric)
class BillableMetricAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "unit", "aggregation", "event_type_list", "plan_count", "is_active"]
    list_filter = ["aggregation", "is_active"]
    search_fields = ["code", "name"]
    # Explicit: the plan_count annotation's GROUP BY drops Meta.ordering, which left the
    # autocomplete of the charge inline paginating an unordered queryset.
    ordering = ["code"]
    readonly_fields = ["id", "created_at"]
    inlines = [MetricChargeInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(plan_count=Count("charges"))

    @admin.display(description="Event types")
    def event_type_list(self, metric) -> str:
        return ", ".join(metric.event_types)

    @admin.display(description="Plans", ordering="plan_count")
    def plan_count(self, metric) -> int:
        return metric.plan_count
