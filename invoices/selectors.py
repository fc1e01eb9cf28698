from __future__ import annotations

from django.db.models import Count, Q, Sum

from credits.selectors import balance_of
from plans.models import Plan
from subscriptions.models import Status
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


def draft_totals(*, organization, draft, balance_cents: int | None = None, now=None) -> dict:
    """What finalizing `draft` would come to now (invoices.services.invoices_finalize_locked):
    tax at the organization's rate, and the credit the balance would pay (or, for lines
    summing below zero, the credit it would add, as a negative amount). `balance_cents`
    is the usable balance to assume (default: the balance now, balance_of), in the
    balance's currency: none applies to an invoice in another one."""

    from .services import tax_for

    subtotal = draft.subtotal_cents
    tax = tax_for(subtotal, organization.tax_rate)
    if subtotal < 0:
        credit = subtotal + tax
    else:
        balance, currency = balance_of(organization=organization, now=now)
        if balance_cents is not None:
            balance = balance_cents
        credit = max(min(balance, subtotal + tax), 0) if currency == draft.currency else 0
    return {
        "currency": draft.currency,
        "period_start": draft.period_start,
        "period_end": draft.period_end,
        "line_items": draft.lines,
        "subtotal_cents": subtotal,
        "tax_rate": organization.tax_rate,
        "tax_cents": tax,
        "credit_applied_cents": credit,
        "total_cents": subtotal - credit + tax,
    }


def upcoming_invoice(*, organization, now) -> dict | None:
    """What the subscription's current period would be invoiced if it ended now: built by
    the same builder as the real invoice, with tax and the credit the balance would cover.
    Never stored. None without a subscription in a billed state."""

    from .builder import period_invoice

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
    totals = draft_totals(organization=organization, draft=draft)
    return {
        "subscription_id": subscription.pk,
        **totals,
        "segments": segments,
        "next_payment_attempt": draft.period_end,
    }


def cancellation_invoice_preview(*, subscription, now) -> dict:
    """What canceling `subscription` now invoices at once (billing.subscriptions
    subscription_cancel: invoices.services.invoice_final_for_cancellation): the usage of
    the period so far and pending lines, with tax and the credit the balance would pay,
    built by the same builder and never stored. `line_items` is empty when nothing would
    be invoiced (an incomplete subscription invoices nothing either)."""

    from .builder import Draft, final_usage_invoice

    if subscription.status == Status.INCOMPLETE:
        draft = Draft(
            organization_id=subscription.organization_id,
            subscription=subscription,
            reason="subscription_cancel",
            currency=subscription.plan.currency,
            period_start=subscription.current_period_start,
            period_end=now,
        )
    else:
        draft = final_usage_invoice(subscription, until=max(now, subscription.current_period_start))
    return draft_totals(organization=subscription.organization, draft=draft, now=now)
