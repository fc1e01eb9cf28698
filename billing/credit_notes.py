"""Credit notes: the one way an issued invoice is corrected.

An issued invoice is never edited. A credit note takes an amount off it (lines plus their
tax at the invoice's rate) and says where that amount went, in this order:

1. off what the invoice still owes (an open invoice asks for less; at zero it is settled);
2. the rest of it was paid, so it goes back: paid money is refunded through the gateway
   (`refund`) or put on the credit balance (`credit`), and prepaid credit that paid part
   of the invoice returns to the lots it came from, keeping their expiry.

Refunds made anywhere (staff, a gateway's dashboard) produce one, and so do plan changes
(the unused time of what was charged). The use cases here span invoices, credits and
payments, which is why they live above all three.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing_project.errors import Conflict, ValidationFailed
from credits.models import CreditBalance
from credits.services import credits_adjust, credits_refund, credits_return
from invoices import rating
from invoices.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    CreditNoteRefundMethod,
    Invoice,
    InvoiceLine,
    InvoiceReason,
    InvoiceStatus,
    LineKind,
)
from invoices.services import credit_note_number_next, tax_for
from invoices.tasks import render_credit_note_pdf, render_invoice_pdf
from payments.models import Payment, PaymentStatus, Refund

logger = logging.getLogger(__name__)

CREDITABLE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


@dataclass(frozen=True)
class CreditLine:
    """One line of a credit note to be: `amount_cents` before tax, of `invoice_line` (or of
    the invoice as a whole when None)."""

    description: str
    amount_cents: int
    invoice_line: InvoiceLine | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


def creditable_cents(invoice: Invoice) -> int:
    """What a credit note can still take off `invoice`: its lines with their tax, less the
    credit notes it has. An invoice that gave credit itself (lines below zero) has none."""
    if invoice.status not in CREDITABLE_STATUSES or invoice.subtotal_cents <= 0:
        return 0
    return max(invoice.gross_cents - invoice.credited_cents, 0)


def credited_of_lines(invoice_lines) -> dict:
    """Invoice line id -> what credit notes already took off it (before tax)."""
    rows = (
        CreditNoteLine.objects.filter(invoice_line__in=list(invoice_lines))
        .values("invoice_line_id")
        .annotate(total=Sum("amount_cents"))
    )
    return {row["invoice_line_id"]: row["total"] for row in rows}


def _check_lines(invoice: Invoice, lines: list[CreditLine]) -> None:
    if not lines:
        raise ValidationFailed.for_field("lines", "A credit note needs at least one line.")
    for line in lines:
        amount = line.amount_cents
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValidationFailed.for_field("amount_cents", "Must be a whole number of minor units above zero.")
        if line.invoice_line is not None and line.invoice_line.invoice_id != invoice.pk:
            raise ValidationFailed.for_field("lines", "A line credits a line of another invoice.")
    by_line: dict = {}
    for line in lines:
        if line.invoice_line is not None:
            by_line[line.invoice_line.pk] = by_line.get(line.invoice_line.pk, 0) + line.amount_cents
    if by_line:
        already = credited_of_lines(by_line)
        for invoice_line in InvoiceLine.objects.filter(pk__in=list(by_line)):
            left = invoice_line.amount_cents - already.get(invoice_line.pk, 0)
            if by_line[invoice_line.pk] > left:
                raise ValidationFailed.for_field(
                    "amount_cents",
                    f"At most {max(left, 0)} can still be credited of the line '{invoice_line.description}'.",
                )


def _balance_takes(invoice: Invoice) -> bool:
    """Whether the organization's credit balance is in the invoice's currency."""

    currency = (
        CreditBalance.objects.filter(organization_id=invoice.organization_id).values_list("currency", flat=True).first()
    )
    return (currency or invoice.organization.currency) == invoice.currency


def _applied_payments(invoice: Invoice) -> list[Payment]:
    return list(
        Payment.objects.select_for_update()
        .filter(
            invoice=invoice,
            is_applied=True,
            status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED],
        )
        .order_by("succeeded_at", "created_at")
    )


@dataclass(frozen=True)
class CreditNoteAmounts:
    """What a credit note of some lines comes to, and where its total goes: off what the
    invoice still owes, refunded through the gateway, to the credit balance, or back to
    the prepaid credit lots that paid the invoice."""

    subtotal_cents: int
    tax_cents: int
    total_cents: int
    off_invoice_cents: int
    refunded_cents: int
    credited_cents: int
    returned_cents: int

    @property
    def to_balance_cents(self) -> int:
        """What the credit balance gains (credited, and prepaid credit returned)."""
        return self.credited_cents + self.returned_cents


def credit_note_amounts(
    *,
    invoice: Invoice,
    lines: list[CreditLine],
    refund_method: str = CreditNoteRefundMethod.CREDIT,
    tax_cents: int | None = None,
    refund: Refund | None = None,
) -> CreditNoteAmounts:
    """The amounts of a credit note of `lines` against `invoice` as credit_note_issue
    issues it (which calls this under the invoice's lock), without writing anything: a
    preview of a plan change reads the same figures. Raises what credit_note_issue
    raises for lines it refuses."""
    if invoice.status not in CREDITABLE_STATUSES:
        raise Conflict(f"A {invoice.status} invoice cannot be credited.")
    _check_lines(invoice, lines)
    subtotal = sum(line.amount_cents for line in lines)
    tax = tax_for(subtotal, invoice.tax_rate)
    if tax_cents is not None:
        if abs(tax_cents - tax) > 1:
            raise ValidationFailed.for_field("tax_cents", f"The tax on {subtotal} at {invoice.tax_rate}% is {tax}.")
        tax = tax_cents
    total = subtotal + tax
    left = creditable_cents(invoice)
    if total > left:
        raise ValidationFailed.for_field(
            "amount_cents", f"At most {left} (tax included) can still be credited on invoice {invoice.number}."
        )

    # Where the total goes: what is owed first, then what was paid.
    owed = invoice.amount_due_cents if invoice.status != InvoiceStatus.PAID else 0
    off_invoice = min(total, owed)
    rest = total - off_invoice
    earlier = invoice.credit_notes.aggregate(
        refunded=Sum("refunded_cents"), credited=Sum("credited_cents"), returned=Sum("returned_credit_cents")
    )
    cash_left = invoice.amount_paid_cents - (earlier["refunded"] or 0) - (earlier["credited"] or 0)
    prepaid_left = max(invoice.credit_applied_cents, 0) - (earlier["returned"] or 0)
    cash = min(rest, max(cash_left, 0))
    returned = min(rest - cash, max(prepaid_left, 0))
    unplaced = rest - cash - returned
    if unplaced:  # cannot happen while totals stay within creditable_cents; refuse rather than lose it
        raise Conflict("This credit note cannot be allocated: the invoice's payments do not cover it.")
    if refund is not None:
        if refund.amount_cents != cash:
            raise Conflict("The refund does not match the paid part of the credit note.")
        refunded, credited = cash, 0
    elif refund_method == CreditNoteRefundMethod.REFUND or (cash and not _balance_takes(invoice)):
        refunded, credited = cash, 0
    else:
        refunded, credited = 0, cash
    return CreditNoteAmounts(
        subtotal_cents=subtotal,
        tax_cents=tax,
        total_cents=total,
        off_invoice_cents=off_invoice,
        refunded_cents=refunded,
        credited_cents=credited,
        returned_cents=returned,
    )


@transaction.atomic
def credit_note_issue(
    *,
    invoice: Invoice,
    lines: list[CreditLine],
    reason: str,
    refund_method: str = CreditNoteRefundMethod.CREDIT,
    memo: str = "",
    actor=None,
    now: datetime | None = None,
    refund: Refund | None = None,
    tax_cents: int | None = None,
    refund_from: Payment | None = None,
) -> CreditNote:
    """Issue a credit note of `lines` (plus their tax at the invoice's rate) against an
    issued invoice, and move the money (see the module docstring). `refund` is a refund
    already made at the gateway that this credit note records (its amount, tax included,
    is the part paid back). `tax_cents` splits an amount given tax included (see
    `gross_to_lines`). More than is left to credit is a 400; a draft or void invoice is a
    409. One transaction: the note, its number and every movement, or nothing."""

    now = now or timezone.now()
    if reason not in CreditNoteReason.values:
        raise ValidationFailed.for_field("reason", f"One of: {', '.join(CreditNoteReason.values)}.")
    if refund_method not in CreditNoteRefundMethod.values:
        raise ValidationFailed.for_field("refund_method", f"One of: {', '.join(CreditNoteRefundMethod.values)}.")
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("organization").get(pk=invoice.pk)
    amounts = credit_note_amounts(
        invoice=invoice, lines=lines, refund_method=refund_method, tax_cents=tax_cents, refund=refund
    )
    subtotal, tax, total = amounts.subtotal_cents, amounts.tax_cents, amounts.total_cents
    off_invoice, refunded, credited, returned = (
        amounts.off_invoice_cents,
        amounts.refunded_cents,
        amounts.credited_cents,
        amounts.returned_cents,
    )
    rest = total - off_invoice

    note = CreditNote.objects.create(
        organization_id=invoice.organization_id,
        invoice=invoice,
        number=credit_note_number_next(year=now.year),
        reason=reason,
        memo=memo[:500],
        refund_method=refund_method,
        currency=invoice.currency,
        tax_rate=invoice.tax_rate,
        subtotal_cents=subtotal,
        tax_cents=tax,
        total_cents=total,
        off_invoice_cents=off_invoice,
        refunded_cents=refunded,
        credited_cents=credited,
        returned_credit_cents=returned,
        issued_at=now,
        created_by=actor,
        billing_name=invoice.billing_name,
        billing_email=invoice.billing_email,
        billing_country=invoice.billing_country,
        billing_tax_id=invoice.billing_tax_id,
        billing_address=invoice.billing_address,
    )
    CreditNoteLine.objects.bulk_create(
        [
            CreditNoteLine(
                credit_note=note,
                invoice_line=line.invoice_line,
                description=line.description[:300],
                quantity=Decimal(1),
                unit_price=Decimal(line.amount_cents),
                amount_cents=line.amount_cents,
                period_start=line.period_start,
                period_end=line.period_end,
                position=position,
            )
            for position, line in enumerate(lines)
        ]
    )

    invoice.pre_payment_credited_cents += off_invoice
    invoice.post_payment_credited_cents += rest
    fields = ["pre_payment_credited_cents", "post_payment_credited_cents", "updated_at"]
    if invoice.status == InvoiceStatus.OPEN and invoice.amount_due_cents == 0:
        invoice.status, invoice.paid_at, invoice.next_payment_attempt = InvoiceStatus.PAID, now, None
        fields += ["status", "paid_at", "next_payment_attempt"]
    invoice.save(update_fields=fields)
    if off_invoice:
        from .services import _links_supersede

        _links_supersede(invoice)  # open pay links ask for the old amount

    if invoice.reason == InvoiceReason.CREDIT_PURCHASE:
        # The credit bought with this invoice goes away with the money (what is spent is spent).
        credits_adjust(
            organization=invoice.organization,
            amount_cents=-subtotal,
            reason=f"Credit purchase {invoice.number} credited by {note.number}",
            created_by=actor,
        )
    if refund is not None:
        Refund.objects.filter(pk=refund.pk).update(credit_note=note)
    elif refunded:
        _refund_through_gateway(invoice, note, refunded, actor=actor, first=refund_from)
    if credited:
        credits_refund(organization=invoice.organization, amount_cents=credited, reference=note.number, invoice=invoice)
    if returned:
        credits_return(
            organization=invoice.organization,
            invoice=invoice,
            amount_cents=returned,
            reference=note.number,
            idempotency_key=f"credit_note:{note.pk}",
        )

    render_credit_note_pdf.delay_on_commit(str(note.pk))
    render_invoice_pdf.delay_on_commit(str(invoice.pk))
    return note


def _refund_through_gateway(
    invoice: Invoice, note: CreditNote, amount: int, *, actor=None, first: Payment | None = None
) -> None:
    """Pay `amount` back through the payments that paid the invoice (`first`, then oldest
    first); what they cannot take any more goes to the credit balance."""

    from .services import payment_refund

    left = amount
    payments = _applied_payments(invoice)
    payments.sort(key=lambda payment: first is None or payment.pk != first.pk)
    for payment in payments:
        if not left:
            break
        take = min(left, payment.refundable_cents)
        if take <= 0:
            continue
        payment_refund(
            payment=payment,
            amount_cents=take,
            reason=note.memo or f"credit note {note.number}",
            actor=actor,
            credit_note=note,
        )
        left -= take
    if left:
        logger.warning("Credit note %s: %s could not be refunded through the gateway; credited instead", note.pk, left)
        CreditNote.objects.filter(pk=note.pk).update(
            refunded_cents=note.refunded_cents - left, credited_cents=note.credited_cents + left
        )
        credits_refund(organization=invoice.organization, amount_cents=left, reference=note.number, invoice=invoice)


def gross_to_lines(invoice: Invoice, gross_cents: int, description: str) -> tuple[list[CreditLine], int]:
    """An amount given tax included as (lines, tax): a refund of 110.00 at 10% credits
    100.00 plus 10.00 of tax; the tax is what the rounded net leaves of the amount, so the
    two always add up to it."""
    rate = invoice.tax_rate or Decimal(0)
    subtotal = rating.round_half_up(Decimal(gross_cents) * 100 / (100 + rate)) if rate else gross_cents
    return [CreditLine(description=description, amount_cents=subtotal)], gross_cents - subtotal


def credit_note_for_refund(*, refund: Refund, actor=None) -> CreditNote | None:
    """Record a refund made at the gateway (on its dashboard, or reported back) as a credit
    note, when the refunded payment was what paid its invoice. None for an overpayment
    given back, or a refund already recorded."""
    refund = Refund.objects.select_for_update().select_related("payment__invoice").get(pk=refund.pk)
    payment = refund.payment
    if refund.credit_note_id or not payment.is_applied:
        return None
    invoice = payment.invoice
    if refund.amount_cents > creditable_cents(invoice):
        logger.warning("Refund %s is more than is left to credit on invoice %s: no credit note", refund.pk, invoice.pk)
        return None
    lines, tax = gross_to_lines(invoice, refund.amount_cents, f"Refund through {payment.gateway}")
    return credit_note_issue(
        invoice=invoice,
        lines=lines,
        tax_cents=tax,
        reason=CreditNoteReason.REFUND,
        refund_method=CreditNoteRefundMethod.REFUND,
        memo=refund.reason,
        actor=actor,
        refund=refund,
    )


def credit_note_refund(
    *, payment: Payment, amount_cents: int | None = None, reason: str = "", actor=None
) -> Refund | None:
    """Refund (part of) a payment that paid its invoice, with the credit note that says so
    (None when the gateway could not take it and it went to the credit balance). A payment
    that paid nothing (an overpayment) is refunded without one."""
    from .services import payment_refund

    if not payment.is_applied:
        return payment_refund(payment=payment, amount_cents=amount_cents, reason=reason, actor=actor)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        amount = payment.refundable_cents if amount_cents is None else amount_cents
        if payment.refundable_cents <= 0:
            raise Conflict("This payment has nothing left to refund.")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= payment.refundable_cents:
            raise ValidationFailed.for_field("amount_cents", f"Must be between 1 and {payment.refundable_cents}.")
        invoice = payment.invoice
        lines, tax = gross_to_lines(invoice, amount, reason or "Refund")
        note = credit_note_issue(
            invoice=invoice,
            lines=lines,
            tax_cents=tax,
            reason=CreditNoteReason.REFUND,
            refund_method=CreditNoteRefundMethod.REFUND,
            memo=reason,
            actor=actor,
            refund_from=payment,
        )
        return note.refunds.order_by("-created_at").first()


@transaction.atomic
def refund_failed_to_balance(*, refund: Refund) -> None:
    """A credit note's refund failed at the gateway: the customer is still owed it, so the
    amount goes to the credit balance instead (and the credit note says so)."""

    if refund.credit_note_id is None:
        return
    note = CreditNote.objects.select_for_update().select_related("invoice__organization").get(pk=refund.credit_note_id)
    amount = min(refund.amount_cents, note.refunded_cents)
    if amount <= 0:
        return
    note.refunded_cents -= amount
    note.credited_cents += amount
    note.save(update_fields=["refunded_cents", "credited_cents"])
    logger.warning("Refund %s of credit note %s failed; %s credited to the balance", refund.pk, note.number, amount)
    credits_refund(
        organization=note.invoice.organization,
        amount_cents=amount,
        reference=f"{note.number} refund failed",
        invoice=note.invoice,
    )


# --- plan changes ---------------------------------------------------------------------


def unused_time_lines(*, subscription, plan_name: str, switch_at: datetime) -> list[tuple[Invoice, list[CreditLine]]]:
    """What a plan change at `switch_at` credits, without writing anything: each invoice
    (issued, or a draft not yet issued) with the lines that give back what it charged for
    the time after `switch_at`. Each charge is credited at most once for a given stretch
    of time. unused_time_credit issues these; a preview of the change shows them."""
    charged = (
        InvoiceLine.objects.select_related("invoice", "invoice__organization")
        .filter(
            invoice__subscription=subscription,
            kind__in=[LineKind.BASE_FEE, LineKind.PRORATION],
            amount_cents__gt=0,
            period_start__lte=switch_at,
            period_end__gt=switch_at,
        )
        .exclude(invoice__status=InvoiceStatus.VOID)
        .order_by("invoice__created_at", "position")
    )
    charged = list(charged)
    if not charged:
        return []
    already = credited_of_lines(charged)
    covered = set(
        CreditNoteLine.objects.filter(invoice_line__in=charged, period_start__lte=switch_at).values_list(
            "invoice_line_id", flat=True
        )
    )
    covered |= _draft_credits_covering(charged, switch_at)
    by_invoice: dict = {}
    for line in charged:
        if line.pk in covered:
            continue
        amount = rating.unused_time_amount(
            line.amount_cents, period_start=line.period_start, period_end=line.period_end, switch_at=switch_at
        )
        amount = min(amount, line.amount_cents - already.get(line.pk, 0))
        if amount <= 0:
            continue
        by_invoice.setdefault(line.invoice, []).append(
            CreditLine(
                description=f"Unused time on {plan_name} from {switch_at.date()} to {line.period_end.date()}",
                amount_cents=amount,
                invoice_line=line,
                period_start=switch_at,
                period_end=line.period_end,
            )
        )
    return list(by_invoice.items())


def unused_time_credit(*, subscription, plan_name: str, switch_at: datetime, actor=None) -> list[CreditNote]:
    """A plan change at `switch_at`: what the subscription was charged for the time after
    it comes back (unused_time_lines). Issued charges get a credit note each (off what is
    still owed, else to the credit balance, tax included); a draft not yet issued (a
    renewal waiting for its grace window) gets a credit line instead."""
    notes = []
    for invoice, lines in unused_time_lines(subscription=subscription, plan_name=plan_name, switch_at=switch_at):
        if invoice.status == InvoiceStatus.DRAFT:
            _credit_draft(invoice, lines)
            continue
        notes.append(
            credit_note_issue(
                invoice=invoice,
                lines=lines,
                reason=CreditNoteReason.PLAN_CHANGE,
                refund_method=CreditNoteRefundMethod.CREDIT,
                actor=actor,
                now=switch_at,
            )
        )
    return notes


def _draft_credits_covering(charged: list[InvoiceLine], switch_at: datetime) -> set:
    """Charges of drafts already credited from before `switch_at` (a credit line of the same
    draft starting no later)."""
    drafts = {line.invoice_id for line in charged if line.invoice.status == InvoiceStatus.DRAFT}
    if not drafts:
        return set()
    credit_starts = list(
        InvoiceLine.objects.filter(
            invoice_id__in=drafts, kind=LineKind.CREDIT, period_start__lte=switch_at
        ).values_list("invoice_id", "period_end")
    )
    return {
        line.pk
        for line in charged
        if any(invoice_id == line.invoice_id and end == line.period_end for invoice_id, end in credit_starts)
    }


def _credit_draft(invoice: Invoice, lines: list[CreditLine]) -> None:
    from django.db.models import Max

    last = InvoiceLine.objects.filter(invoice=invoice).aggregate(last=Max("position"))["last"] or 0
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                kind=LineKind.CREDIT,
                description=line.description,
                quantity=Decimal(1),
                unit_price=Decimal(-line.amount_cents),
                amount_cents=-line.amount_cents,
                period_start=line.period_start,
                period_end=line.period_end,
                position=last + 1 + index,
            )
            for index, line in enumerate(lines)
        ]
    )
    total = sum(line.amount_cents for line in lines)
    Invoice.objects.filter(pk=invoice.pk).update(
        subtotal_cents=invoice.subtotal_cents - total, total_cents=invoice.total_cents - total
    )
