"""Invoice PDFs: a Django template rendered by WeasyPrint. The seller (name, address, tax
id, logo) comes from settings.SELLER; the logo is embedded as a data: URI and the renderer
fetches nothing else (no file, no network)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string

from billing_project.money import format_money, format_unit_price

from .models import CreditNote, Invoice, InvoiceStatus

logger = logging.getLogger(__name__)

LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _buyer(document, organization, *, issued: bool) -> dict:
    """The buyer as the document was issued to (its frozen copy); a draft shows the
    organization's details as they are now."""
    if not issued:
        return {
            "name": organization.name,
            "email": organization.billing_email,
            "tax_id": organization.tax_id,
            "address": organization.billing_address,
            "country": organization.country,
        }
    return {
        "name": document.billing_name or organization.name,
        "email": document.billing_email or organization.billing_email,
        "tax_id": document.billing_tax_id,
        "address": document.billing_address,
        "country": document.billing_country or organization.country,
    }


def seller_logo_uri(path: str) -> str:
    """The logo file at `path` (relative to the project directory, or absolute) as a data:
    URI; "" without a logo. A missing or unsupported file is logged and left out: the
    document is still issued."""
    if not path:
        return ""
    file = Path(path)
    if not file.is_absolute():
        file = Path(settings.BASE_DIR) / file
    media_type = LOGO_TYPES.get(file.suffix.lower())
    if media_type is None:
        logger.warning("SELLER_LOGO_PATH %s is not a PNG, JPEG or SVG file: no logo on invoices", file)
        return ""
    try:
        content = file.read_bytes()
    except OSError as error:
        logger.warning("SELLER_LOGO_PATH %s cannot be read (%s): no logo on invoices", file, error)
        return ""
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def seller_context() -> dict:
    seller = settings.SELLER
    return {**seller, "logo_uri": seller_logo_uri(seller.get("logo", ""))}


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
        "seller": seller_context(),
        "buyer": _buyer(invoice, organization, issued=bool(invoice.finalized_at)),
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
        "seller": seller_context(),
        "buyer": _buyer(note, invoice.organization, issued=True),
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
    from weasyprint.urls import URLFetcher

    html = render_to_string(template, context)
    # data: URIs only (the logo): no file is read and no host is asked, whatever the text
    # of the document or an SVG logo refers to.
    fetcher = URLFetcher(allowed_protocols={"data"})
    return HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=fetcher).write_pdf()


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
