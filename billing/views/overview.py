"""GET /billing/overview: one page of an organization's billing, read from every app."""

from drf_spectacular.utils import extend_schema

from billing_project.api.responses import ok
from credits.selectors import balance_of
from invoices import selectors
from invoices import serializers as s
from invoices.views import BillingView
from payments.models import Dispute
from subscriptions.selectors import live_subscription
from subscriptions.serializers import SubscriptionSerializer


class BillingOverviewView(BillingView):
    @extend_schema(
        tags=["invoices"],
        summary="Billing overview",
        description="Subscription, credit balance, recent invoices, disputes, payment methods and totals.",
        responses={200: s.BillingOverviewSerializer},
    )
    def get(self, request):
        subscription = live_subscription(organization_id=self.organization.pk)
        balance, currency = balance_of(organization=self.organization)
        methods = (
            [{"id": subscription.payment_method, "gateway": subscription.gateway}]
            if subscription and subscription.payment_method
            else []
        )
        data = {
            "subscription": SubscriptionSerializer(subscription).data if subscription else None,
            "credit_balance_cents": balance,
            "currency": currency,
            "recent_invoices": selectors.invoices_of(organization=self.organization)[:5],
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
                for dispute in Dispute.objects.filter(organization=self.organization)[:20]
            ],
            "payment_methods": methods,
            "totals": selectors.invoice_totals(organization=self.organization),
        }
        return ok(s.BillingOverviewSerializer(data).data)
