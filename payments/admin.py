from django.contrib import admin

from .models import Dispute, Payment, Refund


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = [
        "created_at",
        "amount_cents",
        "status",
        "credit_note",
        "is_overpayment",
        "reason",
        "failure_reason",
        "reference",
        "created_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "organization",
        "invoice",
        "gateway",
        "kind",
        "amount_cents",
        "currency",
        "status",
        "amount_refunded_cents",
    ]
    list_filter = ["status", "gateway", "kind", "created_at"]
    search_fields = ["reference", "organization__name", "organization__slug", "invoice__number", "id"]
    list_select_related = ["organization", "invoice"]
    inlines = [RefundInline]
    actions = []  # billing.admin adds "refund" (through the gateway, with a credit note)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["created_at", "payment", "amount_cents", "status", "reason", "created_by"]
    list_filter = ["status", "created_at"]
    search_fields = ["reference", "payment__reference", "payment__invoice__number"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Refund._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    list_display = [
        "opened_at",
        "organization",
        "invoice",
        "gateway",
        "amount_cents",
        "currency",
        "reason",
        "status",
        "closed_at",
    ]
    list_filter = ["status", "gateway", "reason"]
    search_fields = ["reference", "organization__name", "invoice__number"]
    list_select_related = ["organization", "invoice"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Dispute._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
