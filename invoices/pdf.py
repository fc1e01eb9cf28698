"""Invoice PDFs: a Django template rendered by WeasyPrint."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string

from billing_project.money import format_money, format_unit_price

from .models import CreditNote, Invoice, InvoiceStatus


def _quantity(value) -> str:
    normalized = value.normalize()
    if normalized == normalized.to_integral():
        return f"{int(normalized):,}"
    return f"{normalized:,f}"


def _lines(lines, currency: str) -> list[dict]:
    return [
        {
            "description": line.description,
            "period": (line.period_start, line.period_end) if line.period_start else None,
            "quantity": _quantity(line.quantity),
            "unit_price": format_unit_price(line.unit_price, currency),
            "amount": format_money(line.amount_cents, currency),
            "is_credit": line.amount_cents < 0,
        }
        for line in lines
    ]


def invoice_context(invoice: Invoice) -> dict:
    currency = invoice.currency
    lines = _lines(invoice.lines.all(), currency)
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
        "credit_notes": [
            {"number": note.number, "total": format_money(note.total_cents, currency)}
            for note in invoice.credit_notes.order_by("issued_at", "number")
        ],
    }


def credit_note_context(note: CreditNote) -> dict:
    currency = note.currency
    invoice = note.invoice
    allocations = [
        (label, format_money(amount, currency))
        for label, amount in (
            ("Taken off the amount due", note.off_invoice_cents),
            ("Refunded to your payment method", note.refunded_cents),
            ("Added to your credit balance", note.credited_cents),
            ("Prepaid credit returned to your balance", note.returned_credit_cents),
        )
        if amount
    ]
    return {
        "note": note,
        "invoice": invoice,
        "seller": settings.SELLER,
        "buyer": {
            "name": note.billing_name or invoice.organization.name,
            "email": note.billing_email or invoice.organization.billing_email,
            "country": note.billing_country or invoice.organization.country,
        },
        "reason": note.get_reason_display(),
        "lines": _lines(note.lines.all(), currency),
        "subtotal": format_money(note.subtotal_cents, currency),
        "tax": format_money(note.tax_cents, currency),
        "tax_rate": note.tax_rate.normalize(),
        "total": format_money(note.total_cents, currency),
        "allocations": allocations,
    }


def _pdf(template: str, context: dict) -> bytes:
    from weasyprint import HTML

    html = render_to_string(template, context)
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    return _pdf("invoices/invoice.html", invoice_context(invoice))


def credit_note_pdf_bytes(note: CreditNote) -> bytes:
    return _pdf("invoices/credit_note.html", credit_note_context(note))


def credit_note_pdf_store(*, credit_note_id) -> CreditNote | None:
    """Render a credit note's PDF once and store it (a credit note never changes)."""
    note = CreditNote.objects.select_related("invoice__organization").filter(pk=credit_note_id).first()
    if note is None or note.pdf:
        return note
    note.pdf.save(f"{note.number}.pdf", ContentFile(credit_note_pdf_bytes(note)), save=False)
    CreditNote.objects.filter(pk=note.pk).update(pdf=note.pdf.name)
    return note


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
