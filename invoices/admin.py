from django.contrib import admin, messages

from billing_project.errors import DomainError

from .models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    SentEmail,
)
from .services import invoice_finalize, invoice_reissue, invoice_void
from .tasks import render_invoice_pdf


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ["kind", "description", "metric", "quantity", "unit_price", "amount_cents", "period_start", "period_end"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class CreditNoteInline(admin.TabularInline):
    model = CreditNote
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["number", "issued_at", "reason", "total_cents", "off_invoice_cents", "refunded_cents", "credited_cents"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "organization",
        "status",
        "reason",
        "total_cents",
        "credited",
        "currency",
        "due_date",
        "finalized_at",
        "paid_at",
    ]
    list_filter = ["status", "reason", "currency", "finalized_at"]
    search_fields = ["number", "organization__name", "organization__slug", "id"]
    list_select_related = ["organization"]
    date_hierarchy = "created_at"
    inlines = [InvoiceLineInline, CreditNoteInline]
    # payments.admin adds "credit" (a credit note moves money back) after "void".
    actions = ["finalize", "void", "reissue", "render_pdf"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Invoice._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Credited")
    def credited(self, invoice) -> int:
        return invoice.credited_cents

    def _each(self, request, queryset, action, done: str):
        count = 0
        for invoice in queryset:
            try:
                action(invoice=invoice)
                count += 1
            except DomainError as exc:
                self.message_user(request, f"{invoice}: {exc.message}", messages.ERROR)
        if count:
            self.message_user(request, f"{done} {count} invoice(s).", messages.SUCCESS)

    @admin.action(description="Finalize the selected drafts")
    def finalize(self, request, queryset):
        self._each(request, queryset.filter(status=InvoiceStatus.DRAFT), invoice_finalize, "Finalized")

    @admin.action(description="Void the selected unpaid invoices")
    def void(self, request, queryset):
        self._each(request, queryset, invoice_void, "Voided")

    @admin.action(description="Reissue the selected void or fully credited invoices")
    def reissue(self, request, queryset):
        self._each(request, queryset, invoice_reissue, "Reissued")

    @admin.action(description="Render the PDF again")
    def render_pdf(self, request, queryset):
        for invoice in queryset.exclude(status=InvoiceStatus.DRAFT):
            render_invoice_pdf.delay(str(invoice.pk))
        self.message_user(request, "PDF rendering queued.", messages.SUCCESS)


class CreditNoteLineInline(admin.TabularInline):
    model = CreditNoteLine
    extra = 0
    can_delete = False
    fields = ["description", "invoice_line", "quantity", "unit_price", "amount_cents", "period_start", "period_end"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CreditNote)
class CreditNoteAdmin(admin.ModelAdmin):
    """Issued credit notes (read only: they are issued from an invoice's actions, by refunds
    and by plan changes)."""

    list_display = ["number", "organization", "invoice", "reason", "total_cents", "currency", "issued_at"]
    list_filter = ["reason", "refund_method", "currency", "issued_at"]
    search_fields = ["number", "invoice__number", "organization__name", "organization__slug", "id"]
    list_select_related = ["organization", "invoice"]
    date_hierarchy = "issued_at"
    inlines = [CreditNoteLineInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in CreditNote._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SentEmail)
class SentEmailAdmin(admin.ModelAdmin):
    """The billing emails that went out (each once), by what they were about."""

    list_display = ["sent_at", "key"]
    search_fields = ["key"]
    date_hierarchy = "sent_at"

    def get_readonly_fields(self, request, obj=None):
        return ["key", "sent_at"]

    def has_add_permission(self, request):
        return False
