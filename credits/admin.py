"""Staff views of credit: the ledger and balances (read-only: credit moves only through
the services), and the "Grant credits" action of the organization admin."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from billing_project.errors import DomainError
from organizations.admin import OrganizationAdmin
from organizations.models import Organization

from .models import CreditBalance, CreditLedgerEntry, CreditLot, CreditLotUse
from .selectors import balance_of
from .services import MAX_AMOUNT_CENTS, credits_grant


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "organization",
        "kind",
        "amount_cents",
        "currency",
        "balance_after_cents",
        "reference",
        "description",
        "created_by",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["organization__name", "organization__slug", "=organization__id", "reference", "idempotency_key"]
    list_select_related = ["organization", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(CreditBalance)
class CreditBalanceAdmin(ReadOnlyAdmin):
    list_display = ["organization", "balance_cents", "currency", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["organization__name", "organization__slug", "=organization__id"]
    list_select_related = ["organization"]


@admin.register(CreditLot)
class CreditLotAdmin(ReadOnlyAdmin):
    list_display = ["organization", "source_entry", "amount_cents", "remaining_cents", "expires_at", "created_at"]
    list_filter = ["expires_at"]
    search_fields = ["organization__name", "organization__slug", "=organization__id"]
    list_select_related = ["organization", "source_entry"]


@admin.register(CreditLotUse)
class CreditLotUseAdmin(ReadOnlyAdmin):
    """Which lots each entry took credit from or gave it back to."""

    list_display = ["entry", "lot", "amount_cents"]
    search_fields = ["=entry__id", "=lot__id", "=entry__organization__id"]
    list_select_related = ["entry", "lot"]
    show_full_result_count = False


# --- on the organization admin -------------------------------------------------------------


@admin.display(description="Credit")
def credit_ledger_link(organization) -> str:
    """The organization's balance and a link to its ledger (a read-only field)."""
    if organization is None or organization._state.adding:
        return "-"
    balance_cents, currency = balance_of(organization=organization)
    url = reverse("admin:credits_creditledgerentry_changelist") + f"?organization__id__exact={organization.pk}"
    return format_html(
        '{} {} (minor units) &middot; <a href="{}">View the credit ledger</a>', balance_cents, currency, url
    )


class GrantCreditsForm(forms.Form):
    amount_cents = forms.IntegerField(
        label="Amount (minor units)",
        min_value=1,
        max_value=MAX_AMOUNT_CENTS,
        help_text="In the organization's minor unit: cents for USD (1000 = $10.00), whole rupiah for IDR.",
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Required; kept.")
    expires_at = forms.DateTimeField(required=False, help_text="Optional (UTC): unused credit expires then.")


@admin.action(description="Grant credits")
def grant_credits(modeladmin, request, queryset):
    """Ask for an amount and a reason, then grant that credit to each selected organization."""
    if not request.user.has_perm("credits.add_creditledgerentry"):
        modeladmin.message_user(request, "You may not grant credits.", messages.ERROR)
        return None
    form = GrantCreditsForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # all selected organizations or none
                for organization in queryset:
                    credits_grant(
                        organization=organization,
                        amount_cents=data["amount_cents"],
                        reason=data["reason"],
                        created_by=request.user,
                        expires_at=data["expires_at"],
                    )
        except DomainError as error:
            modeladmin.message_user(request, f"No credit granted: {error.message}", messages.ERROR)
            return None
        count = queryset.count()
        modeladmin.message_user(
            request, f"Granted {data['amount_cents']} (minor units) to {count} organization(s).", messages.SUCCESS
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Grant credits",
        "opts": modeladmin.model._meta,
        "form": form,
        "organizations": queryset,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "admin/credits/grant_credits.html", context)


admin.site.unregister(Organization)


@admin.register(Organization)
class CreditOrganizationAdmin(OrganizationAdmin):
    """organizations' admin, with the credit balance and the "Grant credits" action."""

    readonly_fields = [*OrganizationAdmin.readonly_fields, credit_ledger_link]
    actions = [*OrganizationAdmin.actions, grant_credits]
