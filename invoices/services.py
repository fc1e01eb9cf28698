"""Writes for invoices: storing the period's invoice, finalizing (number, credits, tax,
PDF), marking paid, voiding."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from billing_project.db import bulk_update_rows
from billing_project.errors import Conflict
from credits.models import CreditBalance
from credits.services import credits_apply_to_invoice, credits_issue_from_invoice, credits_return
from usage.services import usage_cutoffs_advance

from . import rating
from .builder import Draft, final_usage_invoice, first_invoice, period_invoice, plan_change_invoice, save_draft
from .models import (
    CreditNoteNumberSequence,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    InvoiceReason,
    InvoiceStatus,
    LineKind,
)
from .tasks import render_invoice_pdf, render_invoice_pdfs, send_invoice_issued_email, send_invoice_issued_emails


def invoice_number_next(*, year: int) -> str:
    """The next gapless number of `year` (`INV-2026-000123`), taken with one row-locking
    UPDATE; call inside the transaction that stores it, so a rollback gives the number back."""
    return invoice_numbers_next(year=year, count=1)[0]


def tax_for(subtotal_cents: int, rate_percent: Decimal) -> int:
    """Tax on an amount, rounded half away from zero: credit carries its tax too (a
    negative amount gets negative tax), so what was charged with tax goes back with it."""
    if not subtotal_cents or not rate_percent:
        return 0
    return rating.round_half_up(Decimal(subtotal_cents) * rate_percent / 100)


def _settled_usage_end(invoice: Invoice) -> datetime | None:
    """Where the usage an invoice settles ends. A period (or cancellation) invoice settles
    its whole usage period, billable usage or not; another invoice, its usage lines."""
    if invoice.reason in (InvoiceReason.SUBSCRIPTION_CYCLE, InvoiceReason.SUBSCRIPTION_CANCEL) and invoice.period_end:
        return invoice.period_end
    return (
        invoice.lines.filter(kind=LineKind.USAGE, period_end__isnull=False)
        .order_by("-period_end")
        .values_list("period_end", flat=True)
        .first()
    )


def invoice_numbers_next(*, year: int, count: int) -> list[str]:
    """`count` consecutive numbers of `year`, taken with one row-locking UPDATE."""
    return _numbers_next(InvoiceNumberSequence, prefix="INV", year=year, count=count)


def credit_note_number_next(*, year: int) -> str:
    """The next gapless credit note number of `year` (`CN-2026-000001`), its own series;
    call inside the transaction that stores the credit note."""
    return _numbers_next(CreditNoteNumberSequence, prefix="CN", year=year, count=1)[0]


def _numbers_next(sequence_model, *, prefix: str, year: int, count: int) -> list[str]:
    table = connection.ops.quote_name(sequence_model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_number = last_number + %s WHERE year = %s RETURNING last_number",  # noqa: S608
            [count, year],
        )
        row = cursor.fetchone()
    if row is None:
        try:
            with transaction.atomic():
                sequence_model.objects.create(year=year, last_number=count)
            last = count
        except IntegrityError:  # a concurrent finalization created the year's row first
            return _numbers_next(sequence_model, prefix=prefix, year=year, count=count)
    else:
        last = row[0]
    return [f"{prefix}-{year}-{number:06d}" for number in range(last - count + 1, last + 1)]


FINALIZED_FIELDS = [
    "number",
    "status",
    "subtotal_cents",
    "tax_rate",
    "tax_cents",
    "credit_applied_cents",
    "total_cents",
    "finalized_at",
    "due_date",
    "paid_at",
    "billing_name",
    "billing_email",
    "billing_country",
    "billing_tax_id",
    "billing_address",
    "updated_at",
]


def invoices_finalize_locked(*, invoices: list[Invoice], now: datetime) -> list[Invoice]:
    """Issue drafts the caller has locked (with their organizations loaded): number them,
    add tax, apply credits, close their usage periods and queue their PDFs and emails.
    One implementation for one invoice (checkout, plan change) and for the thousands of
    the billing cycle, which is why it works on a list with a fixed number of queries."""

    invoices = [invoice for invoice in invoices if invoice.status == InvoiceStatus.DRAFT]
    if not invoices:
        return []
    subtotals = dict(
        InvoiceLine.objects.filter(invoice__in=invoices)
        .values_list("invoice_id")
        .annotate(total=Sum("amount_cents"))
        .values_list("invoice_id", "total")
    )
    organization_ids = {invoice.organization_id for invoice in invoices}
    with_credit = set(
        CreditBalance.objects.filter(organization_id__in=organization_ids, balance_cents__gt=0).values_list(
            "organization_id", flat=True
        )
    )
    numbers = invoice_numbers_next(year=now.year, count=len(invoices))
    due_date = (now + timedelta(days=settings.INVOICE_DUE_DAYS)).date()
    cutoffs: dict = {}
    for invoice, number in zip(invoices, numbers, strict=True):
        organization = invoice.organization
        subtotal = subtotals.get(invoice.pk) or 0
        invoice.number = number
        invoice.subtotal_cents = subtotal
        invoice.tax_rate = organization.tax_rate
        invoice.tax_cents = tax_for(subtotal, organization.tax_rate)
        if subtotal < 0:
            # Lines summing below zero: the customer is owed that much, with its tax.
            credits_issue_from_invoice(
                organization=organization,
                invoice=invoice,
                amount_cents=-(subtotal + invoice.tax_cents),
                reference=number,
            )
            invoice.credit_applied_cents = subtotal + invoice.tax_cents
        elif invoice.reason != InvoiceReason.CREDIT_PURCHASE and organization.pk in with_credit:
            invoice.credit_applied_cents = credits_apply_to_invoice(
                organization=organization,
                invoice=invoice,
                max_amount_cents=subtotal + invoice.tax_cents,
                reference=number,
            )
        else:
            invoice.credit_applied_cents = 0  # none available (and credit is not bought with credit)
        invoice.total_cents = invoice.subtotal_cents - invoice.credit_applied_cents + invoice.tax_cents
        invoice.finalized_at = now
        invoice.due_date = due_date
        invoice.billing_name = organization.name
        invoice.billing_email = organization.billing_email
        invoice.billing_country = organization.country
        invoice.billing_tax_id = organization.tax_id
        invoice.billing_address = organization.billing_address
        if invoice.total_cents == 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
        else:
            invoice.status = InvoiceStatus.OPEN
        invoice.updated_at = now
        invoice.clean()
        usage_end = _settled_usage_end(invoice)
        if usage_end is not None:
            cutoffs[invoice.organization_id] = max(usage_end, cutoffs.get(invoice.organization_id, usage_end))
    bulk_update_rows(invoices, FINALIZED_FIELDS)
    usage_cutoffs_advance(cutoffs=cutoffs)
    ids = [str(invoice.pk) for invoice in invoices]
    if len(ids) == 1:
        render_invoice_pdf.delay_on_commit(ids[0])
        send_invoice_issued_email.delay_on_commit(ids[0])
    else:
        render_invoice_pdfs.delay_on_commit(ids)
        send_invoice_issued_emails.delay_on_commit(ids)
    return invoices


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Issue a draft: number it, add tax, apply the organization's credits, and queue its
    PDF. An invoice that owes nothing is paid at once; lines summing below zero add that
    much credit to the balance. Finalizing an already issued invoice changes nothing.

    Its usage period is then closed: later usage events dated in it are refused.
    """
    now = now or timezone.now()
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("organization").get(pk=invoice.pk)
    invoices_finalize_locked(invoices=[invoice], now=now)
    return invoice


@transaction.atomic
def invoice_create(*, draft: Draft, finalize: bool = True, now: datetime | None = None) -> Invoice:
    """Store a draft and (by default) finalize it in the same transaction."""
    invoice = save_draft(draft)
    return invoice_finalize(invoice=invoice, now=now) if finalize else invoice


def invoice_for_first_period(*, subscription, now: datetime | None = None) -> Invoice:
    return invoice_create(draft=first_invoice(subscription), now=now)


def invoice_for_period_end(*, subscription, finalize: bool = True, now: datetime | None = None) -> Invoice:
    """The invoice closing the subscription's current period (at most one per period: 409
    when it exists, also when a concurrent call stored it first)."""
    existing = Invoice.objects.filter(
        subscription=subscription, period_start=subscription.current_period_start, reason="subscription_cycle"
    ).exclude(status=InvoiceStatus.VOID)
    if existing.exists():
        raise Conflict("This period has already been invoiced.")
    try:
        return invoice_create(draft=period_invoice(subscription), finalize=finalize, now=now)
    except IntegrityError:
        # The one-invoice-per-period constraint refused a concurrent second invoice.
        if existing.exists():
            raise Conflict("This period has already been invoiced.") from None
        raise


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, amount_cents: int | None = None, now: datetime | None = None) -> Invoice:
    """Record a payment that settles an open invoice. Paying a paid invoice changes nothing."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.PAID:
        return invoice
    if invoice.status != InvoiceStatus.OPEN:
        raise Conflict(f"A {invoice.status} invoice cannot be paid.")
    now = now or timezone.now()
    invoice.amount_paid_cents += invoice.amount_due_cents if amount_cents is None else amount_cents
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

    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.VOID:
        return invoice
    if invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise Conflict(f"A {invoice.status} invoice cannot be voided.")
    if invoice.credit_applied_cents > 0:
        credits_return(  # back into the lots it came from, with their expiry
            organization=invoice.organization,
            invoice=invoice,
            amount_cents=invoice.credit_applied_cents,
            reference=f"void {invoice.number}",
        )
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = now or timezone.now()
    invoice.next_payment_attempt = None
    invoice.save(update_fields=["status", "voided_at", "next_payment_attempt", "updated_at"])
    return invoice


def renewal_drafts_drop_period(*, subscription, period_start: datetime) -> int:
    """A subscription canceled now: its renewal waiting in a draft for the grace window (the
    base fee of the period that starts at `period_start`, billed in advance) is dropped,
    with any credit a plan change added against it; the draft keeps the ended period's
    usage. Issued invoices are not touched. Returns the lines dropped."""
    drafts = list(
        Invoice.objects.select_for_update().filter(
            subscription=subscription, status=InvoiceStatus.DRAFT, reason=InvoiceReason.SUBSCRIPTION_CYCLE
        )
    )
    dropped = 0
    for invoice in drafts:
        lines = InvoiceLine.objects.filter(
            invoice=invoice, kind__in=[LineKind.BASE_FEE, LineKind.CREDIT], period_start__gte=period_start
        )
        amount = lines.aggregate(total=Sum("amount_cents"))["total"] or 0
        count, _ = lines.delete()
        if count:
            Invoice.objects.filter(pk=invoice.pk).update(
                subtotal_cents=invoice.subtotal_cents - amount, total_cents=invoice.total_cents - amount
            )
            dropped += count
    return dropped


def invoices_stop_collecting(*, subscription) -> int:
    """A subscription ended: its open invoices stay open, as what the customer owes (they
    can still pay them, or staff credit them), but no further collection attempt is made."""
    return Invoice.objects.filter(
        subscription=subscription, status=InvoiceStatus.OPEN, next_payment_attempt__isnull=False
    ).update(next_payment_attempt=None)


@transaction.atomic
def invoice_reissue(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """Issue a new invoice in place of a voided or fully credited one (an issued invoice is
    never edited): the same charges, its usage rated again on the segments of its period,
    with today's billing details and tax rate; finalized at once and numbered. Reissuing
    twice, or an invoice that still stands, is a 409."""
    from .builder import reissue_draft

    now = now or timezone.now()
    original = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice.pk)
    fully_credited = original.gross_cents > 0 and original.credited_cents >= original.gross_cents
    if original.status != InvoiceStatus.VOID and not fully_credited:
        raise Conflict("Only a void or fully credited invoice can be reissued: credit it in full first.")
    if original.reason == InvoiceReason.CREDIT_PURCHASE:
        raise Conflict("A credit purchase is not reissued: the customer buys credit again.")
    earlier = original.corrections.exclude(status=InvoiceStatus.VOID).first()
    if earlier is not None:
        raise Conflict(f"This invoice was already reissued as {earlier.number or earlier.pk}.")
    reissued = save_draft(reissue_draft(original))
    Invoice.objects.filter(pk=reissued.pk).update(corrects=original)
    return invoice_finalize(invoice=reissued, now=now)


def invoice_final_for_cancellation(*, subscription, now: datetime | None = None) -> Invoice | None:
    """At an immediate cancellation: invoice the usage of the period so far (and pending
    lines) at once. None when there is nothing to invoice."""
    now = now or timezone.now()
    draft = final_usage_invoice(subscription, until=max(now, subscription.current_period_start))
    if not draft.lines:
        return None
    return invoice_create(draft=draft, now=now)


def invoice_for_plan_change(*, subscription, new_plan, now: datetime | None = None) -> Invoice | None:
    """A mid-period switch: the rest of the period on the new plan, finalized at once (the
    credit balance, which now holds the unused time of the old plan, pays what it can).
    None when the new plan costs nothing for the rest of the period."""
    now = now or timezone.now()
    draft = plan_change_invoice(subscription, new_plan=new_plan, switch_at=now)
    if not draft.lines:
        return None
    return invoice_create(draft=draft, now=now)
