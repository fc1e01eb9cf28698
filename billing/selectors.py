"""Reads that gather what several apps hold about an organization's billing."""

from __future__ import annotations

from datetime import timedelta

from billing_project.periods import period_bounds
from credits.selectors import balance_of
from invoices.builder import first_invoice
from invoices.selectors import draft_totals, invoice_totals, invoices_of
from organizations.models import Organization
from payments.models import Dispute
from subscriptions.models import Subscription
from subscriptions.selectors import live_subscription
from subscriptions.services import months_of

RECENT_INVOICES = 5
RECENT_DISPUTES = 20


def billing_overview(*, organization: Organization) -> dict:
    """GET /billing/overview: the live subscription (or None), the credit balance and its
    currency, the latest invoices and disputes, the payment method renewals charge and the
    invoice totals, in the shape of invoices.serializers.BillingOverviewSerializer."""
    subscription = live_subscription(organization_id=organization.pk)
    balance, currency = balance_of(organization=organization)
    methods = (
        [{"id": subscription.payment_method, "gateway": subscription.gateway}]
        if subscription and subscription.payment_method
        else []
    )
    return {
        "subscription": subscription,
        "credit_balance_cents": balance,
        "currency": currency,
        "recent_invoices": invoices_of(organization=organization)[:RECENT_INVOICES],
        "disputes": [
            {
                "id": str(dispute.pk),
                "invoice_id": str(dispute.invoice_id) if dispute.invoice_id else None,
                "transaction_id": str(dispute.credit_entry_id) if dispute.credit_entry_id else None,
                "source": dispute.source,
                "requested_refund_cents": dispute.requested_refund_cents,
                "amount_cents": dispute.amount_cents,
                "currency": dispute.currency,
                "reason": dispute.reason,
                "status": dispute.status,
                "opened_at": dispute.opened_at,
            }
            for dispute in Dispute.objects.filter(organization=organization)[:RECENT_DISPUTES]
        ],
        "payment_methods": methods,
        "totals": invoice_totals(organization=organization),
    }


def checkout_preview(*, organization: Organization, plan, now) -> dict:
    """What billing.services.checkout_create(plan) would start at `now`, writing nothing:
    a trial (`trial_end`, the first charge then) or the first invoice, built by the same
    builder (invoices.builder.first_invoice) with the tax and credit its finalization
    takes (invoices.selectors.draft_totals), and the periods as
    subscriptions.services.subscription_create sets them."""
    start = now.replace(microsecond=0)
    if plan.trial_days:
        trial_end = start + timedelta(days=plan.trial_days)
        return {"trial_days": plan.trial_days, "trial_end": trial_end, "first_period": None, "invoice": None}
    period_start, period_end = period_bounds(start, 0, months_of(plan))
    subscription = Subscription(
        organization=organization,
        plan=plan,
        current_period_start=period_start,
        current_period_end=period_end,
        billing_anchor=start,
        started_at=start,
    )
    invoice = draft_totals(organization=organization, draft=first_invoice(subscription), now=now)
    return {"trial_days": 0, "trial_end": None, "first_period": (period_start, period_end), "invoice": invoice}
