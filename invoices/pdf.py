"""Invoice PDFs: a Django template rendered by WeasyPrint."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string

from billing_project.money import format_money, format_unit_price

from .models import Invoice, InvoiceStatus


def _quantity(value) -> str:
    normalized = value.normalize()
    if normalized == normalized.to_integral():
        return f"{int(normalized):,}"
    return f"{normalized:,f}"


def invoice_context(invoice: Invoice) -> dict:
    currency = invoice.currency
    lines = [
        {
            "description": line.description,
            "period": (line.period_start, line.period_end) if line.period_start else None,
            "quantity": _quantity(line.quantity),
            "unit_price": format_unit_price(line.unit_price, currency),
            "amount": format_money(line.amount_cents, currency),
            "is_credit": line.amount_cents < 0,
        }
        for line in invoice.lines.all()
    ]
    organization = invoice.organization
    return {
        "invoice": invoice,
        "seller": settings.SELLER,
        "buyer": {
            "name": invoice.billing_name or organization.name,
            "email": invoice.billing_email or organization.billing_email,
            "country": invoice.billing_country or organization.country,
        },
        "lines": lines,
        "subtotal": format_money(invoice.subtotal_cents, currency),
        "tax": format_money(invoice.tax_cents, currency),
        "tax_rate": invoice.tax_rate.normalize(),
        "credit": format_money(invoice.credit_applied_cents, currency),
        "credit_issued": format_money(-invoice.credit_applied_cents, currency),
        "total": format_money(invoice.total_cents, currency),
        "amount_paid": format_money(invoice.amount_paid_cents, currency),
        "amount_due": format_money(invoice.amount_due_cents, currency),
        "is_paid": invoice.status == InvoiceStatus.PAID,
        "is_void": invoice.status == InvoiceStatus.VOID,
    }


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    from weasyprint import HTML

    html = render_to_string("invoices/invoice.html", invoice_context(invoice))
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def invoice_pdf_store(*, invoice_id) -> Invoice | None:
    """Render the PDF of an issued invoice and store it (replacing an older rendering)."""
    invoice = Invoice.objects.select_related("organization").filter(pk=invoice_id).first()
    if invoice is None or invoice.status == InvoiceStatus.DRAFT:
        return invoice
    content = invoice_pdf_bytes(invoice)
    old_name = invoice.pdf.name if invoice.pdf else None
    invoice.pdf.save(f"{invoice.number or invoice.pk}.pdf", ContentFile(content), save=False)
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name)
    if old_name and old_name != invoice.pdf.name:
        invoice.pdf.storage.delete(old_name)
    return invoice
