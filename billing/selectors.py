"""Reads that gather what several apps hold about an organization's billing."""

from __future__ import annotations

from credits.selectors import balance_of
from invoices.selectors import invoice_totals, invoices_of
from organizations.models import Organization
from payments.models import Dispute
from subscriptions.selectors import live_subscription

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
