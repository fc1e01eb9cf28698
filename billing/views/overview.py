"""GET /billing/overview: one page of an organization's billing, read from every app."""

from drf_spectacular.utils import extend_schema

from billing_project.api.responses import ok
from invoices import serializers as s
from invoices.views import BillingViewSet
from subscriptions.serializers import SubscriptionSerializer

from ..selectors import billing_overview


class BillingOverviewViewSet(BillingViewSet):
    @extend_schema(
        tags=["invoices"],
        summary="Billing overview",
        description="Subscription, credit balance, recent invoices, disputes, payment methods and totals.",
        responses={200: s.BillingOverviewSerializer},
    )
    def retrieve(self, request):
        overview = billing_overview(organization=self.organization)
        subscription = overview["subscription"]
        overview["subscription"] = SubscriptionSerializer(subscription).data if subscription else None
        return ok(s.BillingOverviewSerializer(overview).data)
