from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from billing_project.errors import DomainError

from .credit_notes import credit_note_refund
from .models import Dispute, Payment, Refund, RefundStatus


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


class RefundForm(forms.Form):
    amount_cents = forms.IntegerField(
        min_value=1, required=False, help_text="Minor units; empty refunds what is left of each payment."
    )
    reason = forms.CharField(max_length=500)


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
    actions = ["refund"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Refund through the gateway (with a credit note)")
    def refund(self, request, queryset):
        if "apply" in request.POST:
            form = RefundForm(request.POST)
            if form.is_valid():
                done = 0
                for payment in queryset:
                    try:
                        refund = credit_note_refund(
                            payment=payment,
                            amount_cents=form.cleaned_data["amount_cents"],
                            reason=form.cleaned_data["reason"],
                            actor=request.user,
                        )
                        done += 1
                        if refund is None:
                            self.message_user(
                                request, f"{payment}: nothing could be refunded; credited instead", messages.WARNING
                            )
                        elif refund.status == RefundStatus.MANUAL:
                            self.message_user(request, f"{payment}: {refund.failure_reason}", messages.WARNING)
                        elif refund.status == RefundStatus.FAILED:
                            self.message_user(
                                request, f"{payment}: the refund failed ({refund.failure_reason})", messages.ERROR
                            )
                    except DomainError as exc:
                        self.message_user(request, f"{payment}: {exc.message}", messages.ERROR)
                if done:
                    self.message_user(request, f"Refunded {done} payment(s).", messages.SUCCESS)
                return None
        else:
            form = RefundForm()
        return render(
            request,
            "admin/payments/refund.html",
            {"form": form, "payments": queryset, "action": "refund", **self.admin_site.each_context(request)},
        )


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
