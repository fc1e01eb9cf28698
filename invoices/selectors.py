from __future__ import annotations

from django.db.models import Count, Q, Sum

from credits.selectors import balance_of
from plans.models import Plan
from subscriptions.selectors import entitled_subscription

from .models import CreditNote, Invoice, InvoiceStatus

VISIBLE = ~Q(status=InvoiceStatus.DRAFT)


def invoices_of(*, organization):
    """Issued invoices (drafts stay internal), newest first (the API's list filters them
    with invoices.filters.InvoiceFilter)."""
    return Invoice.objects.filter(VISIBLE, organization=organization).order_by("-finalized_at", "-created_at")


def invoice_of(*, organization, invoice_id) -> Invoice | None:
    return (
        Invoice.objects.filter(VISIBLE, organization=organization, pk=invoice_id)
        .prefetch_related("lines__metric", "credit_notes__lines", "credit_notes__invoice")
        .first()
    )


def credit_notes_of(*, organization):
    """The organization's credit notes, newest first (the API's list filters them with
    invoices.filters.CreditNoteFilter)."""
    return (
        CreditNote.objects.filter(organization=organization)
        .select_related("invoice")
        .prefetch_related("lines")
        .order_by("-issued_at", "-number")
    )


def credit_note_of(*, organization, credit_note_id) -> CreditNote | None:
    return credit_notes_of(organization=organization).filter(pk=credit_note_id).first()


def invoice_totals(*, organization) -> dict:
    totals = Invoice.objects.filter(VISIBLE, organization=organization).aggregate(
        spent=Sum("amount_paid_cents", filter=Q(status=InvoiceStatus.PAID)),
        pending=Sum("total_cents", filter=Q(status=InvoiceStatus.OPEN)),
        count=Count("id"),
    )
    return {
        "spent_cents": totals["spent"] or 0,
        "pending_cents": totals["pending"] or 0,
        "invoice_count": totals["count"],
    }


def upcoming_invoice(*, organization, now) -> dict | None:
    """What the subscription's current period would be invoiced if it ended now: built by
    the same builder as the real invoice, with tax and the credit the balance would cover.
    Never stored. None without a subscription in a billed state."""

    from .builder import period_invoice
    from .services import tax_for

    subscription = entitled_subscription(organization_id=organization.pk)
    if subscription is None:
        return None

    draft = period_invoice(subscription, usage_until=now)
    plans = Plan.objects.in_bulk([plan_id for plan_id, _start, _end in draft.segments])
    segments = [
        {
            "plan_id": plan_id,
            "plan_code": plans[plan_id].code,
            "plan_name": plans[plan_id].name,
            "start": start,
            "end": end,
        }
        for plan_id, start, end in draft.segments
    ]
    subtotal = draft.subtotal_cents
    tax = tax_for(subtotal, organization.tax_rate)
    if subtotal < 0:
        credit = subtotal + tax
    else:
        balance, _currency = balance_of(organization=organization)
        credit = min(balance, subtotal + tax)
    return {
        "subscription_id": subscription.pk,
        "currency": draft.currency,
        "period_start": draft.period_start,
        "period_end": draft.period_end,
        "line_items": draft.lines,
        "segments": segments,
        "subtotal_cents": subtotal,
        "tax_rate": organization.tax_rate,
        "tax_cents": tax,
        "credit_applied_cents": credit,
        "total_cents": subtotal - credit + tax,
        "next_payment_attempt": draft.period_end,
    }
