"""Writes for invoices: storing the period's invoice, finalizing (number, credits, tax,
PDF), marking paid, voiding."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing_project.errors import Conflict

from . import rating
from .builder import Draft, final_usage_invoice, first_invoice, period_invoice, plan_change_invoice, save_draft
from .models import Invoice, InvoiceNumberSequence, InvoiceStatus, LineKind
from .tasks import render_invoice_pdf


def invoice_number_next(*, year: int) -> str:
    """The next gapless number of `year` (`INV-2026-000123`), taken under a row lock; call
    inside the transaction that stores it, so a rollback gives the number back."""
    InvoiceNumberSequence.objects.get_or_create(year=year)
    sequence = InvoiceNumberSequence.objects.select_for_update().get(year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return f"INV-{year}-{sequence.last_number:06d}"


def tax_for(subtotal_cents: int, rate_percent: Decimal) -> int:
    if subtotal_cents <= 0 or not rate_percent:
        return 0
    return rating.round_half_up(Decimal(subtotal_cents) * rate_percent / 100)


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Issue a draft: number it, add tax, apply the organization's credits, and queue its
    PDF. An invoice that owes nothing is paid at once; lines summing below zero add that
    much credit to the balance. Finalizing an already issued invoice changes nothing.

    Its usage period is then closed: later usage events dated in it are refused.
    """
    from credits.services import credits_apply_to_invoice, credits_issue_from_invoice
    from usage.services import usage_cutoff_advance

    now = now or timezone.now()
    invoice = Invoice.objects.select_for_update().select_related("organization").get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.DRAFT:
        return invoice
    organization = invoice.organization
    subtotal = sum(invoice.lines.values_list("amount_cents", flat=True))
    invoice.subtotal_cents = subtotal
    invoice.tax_rate = organization.tax_rate
    invoice.tax_cents = tax_for(subtotal, organization.tax_rate)
    invoice.number = invoice_number_next(year=now.year)
    if subtotal < 0:
        credits_issue_from_invoice(
            organization=organization, invoice=invoice, amount_cents=-subtotal, reference=invoice.number
        )
        invoice.credit_applied_cents = subtotal
    else:
        invoice.credit_applied_cents = credits_apply_to_invoice(
            organization=organization,
            invoice=invoice,
            max_amount_cents=subtotal + invoice.tax_cents,
            reference=invoice.number,
        )
    invoice.total_cents = invoice.subtotal_cents - invoice.credit_applied_cents + invoice.tax_cents
    invoice.finalized_at = now
    invoice.due_date = (now + timedelta(days=settings.INVOICE_DUE_DAYS)).date()
    invoice.billing_name = organization.name
    invoice.billing_email = organization.billing_email
    invoice.billing_country = organization.country
    if invoice.total_cents == 0:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = now
    else:
        invoice.status = InvoiceStatus.OPEN
    invoice.full_clean(exclude=["pdf"])
    invoice.save()
    usage_end = (
        invoice.lines.filter(kind=LineKind.USAGE, period_end__isnull=False)
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )
    if usage_end is not None:
        usage_cutoff_advance(organization_id=organization.pk, closed_before=usage_end)
    render_invoice_pdf.delay_on_commit(str(invoice.pk))
    return invoice


@transaction.atomic
def invoice_create(draft: Draft, *, finalize: bool = True, now: datetime | None = None) -> Invoice:
    """Store a draft and (by default) finalize it in the same transaction."""
    invoice = save_draft(draft)
    return invoice_finalize(invoice=invoice, now=now) if finalize else invoice


def invoice_for_first_period(*, subscription, now: datetime | None = None) -> Invoice:
    return invoice_create(first_invoice(subscription), now=now)


def invoice_for_period_end(*, subscription, finalize: bool = True, now: datetime | None = None) -> Invoice:
    """The invoice closing the subscription's current period (at most one per period)."""
    existing = Invoice.objects.filter(
        subscription=subscription, period_start=subscription.current_period_start, reason="subscription_cycle"
    ).exclude(status=InvoiceStatus.VOID)
    if existing.exists():
        raise Conflict("This period has already been invoiced.")
    return invoice_create(period_invoice(subscription), finalize=finalize, now=now)


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, amount_cents: int | None = None, now: datetime | None = None) -> Invoice:
    """Record a payment that settles an open invoice. Paying a paid invoice changes nothing."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.PAID:
        return invoice
    if invoice.status != InvoiceStatus.OPEN:
        raise Conflict(f"A {invoice.status} invoice cannot be paid.")
    now = now or timezone.now()
    invoice.amount_paid_cents = invoice.total_cents if amount_cents is None else amount_cents
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.next_payment_attempt = None
    invoice.save(update_fields=["amount_paid_cents", "status", "paid_at", "next_payment_attempt", "updated_at"])
    render_invoice_pdf.delay_on_commit(str(invoice.pk))
    return invoice


@transaction.atomic
def invoice_void(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Cancel an unpaid invoice. Its number stays used (numbers are never reused); credits
    it consumed are returned to the balance."""
    from credits.services import credits_refund

    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.VOID:
        return invoice
    if invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise Conflict(f"A {invoice.status} invoice cannot be voided.")
    if invoice.credit_applied_cents > 0:
        credits_refund(
            organization=invoice.organization,
            amount_cents=invoice.credit_applied_cents,
            reference=f"void {invoice.number}",
            invoice=invoice,
        )
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = now or timezone.now()
    invoice.next_payment_attempt = None
    invoice.save(update_fields=["status", "voided_at", "next_payment_attempt", "updated_at"])
    return invoice


def invoice_final_for_cancellation(*, subscription, now: datetime | None = None) -> Invoice | None:
    """At an immediate cancellation: invoice the usage of the period so far (and pending
    lines) at once. None when there is nothing to invoice."""
    now = now or timezone.now()
    draft = final_usage_invoice(subscription, until=max(now, subscription.current_period_start))
    if not draft.lines:
        return None
    return invoice_create(draft, now=now)


def invoice_for_plan_change(*, subscription, old_plan, new_plan, now: datetime | None = None) -> Invoice | None:
    """A mid-period switch: credit for the unused time on the old plan and a charge for the
    rest of the period on the new one, finalized at once (None when both are zero)."""
    now = now or timezone.now()
    draft = plan_change_invoice(subscription, old_plan=old_plan, new_plan=new_plan, switch_at=now)
    if not draft.lines:
        return None
    return invoice_create(draft, now=now)
