"""The billing actions of API.md: checkout, portal, subscription changes, paying an
invoice, buying credit. Owners, admins and billing managers only."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from billing import serializers as s
from billing import services
from billing.subscriptions import subscription_cancel, subscription_change_plan_and_collect
from billing_project.api.responses import ok
from billing_project.api.schema import error_response
from billing_project.api.viewsets import ResourceViewSet
from billing_project.errors import NotFound
from idempotency.mixins import IdempotentMixin
from invoices.serializers import InvoiceDetailSerializer
from organizations.context import OrgScopedAPIView
from organizations.models import BILLING_ROLES
from plans.models import Plan
from plans.selectors import plan_of
from subscriptions.models import Subscription
from subscriptions.selectors import latest_subscription, live_subscription
from subscriptions.serializers import SubscriptionSerializer
from subscriptions.services import subscription_reactivate

IDEMPOTENCY_NOTE = (
    " Send `Idempotency-Key` to make a retry safe: the same key and body return the first answer, "
    "another body is 422, a key still being processed is 409."
)


class BillingActionView(IdempotentMixin, OrgScopedAPIView):
    org_roles = BILLING_ROLES


def _plan_or_404(plan_id) -> Plan:
    plan = plan_of(plan_id=plan_id)
    if plan is None:
        raise NotFound("Plan not found.")
    return plan


class CheckoutCreateView(BillingActionView):
    @extend_schema(
        tags=["billing"],
        summary="Start a checkout for a paid plan",
        description=(
            "Opens the first invoice (the base fee) and returns the gateway's hosted page. A plan with "
            "trial days starts `trialing` at once (the URL is then your success URL). URLs must be on "
            "ALLOWED_REDIRECT_HOSTS (400); an existing subscription is 409." + IDEMPOTENCY_NOTE
        ),
        request=s.CheckoutCreateInputSerializer,
        responses={
            200: s.CheckoutOutputSerializer,
            409: error_response("Already subscribed."),
            502: error_response("The gateway failed (`gateway_error`)."),
        },
    )
    def post(self, request):
        data = s.CheckoutCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.checkout_create(
            organization=self.organization,
            plan=_plan_or_404(data.validated_data["plan_id"]),
            success_url=data.validated_data["success_url"],
            cancel_url=data.validated_data["cancel_url"],
            gateway_name=data.validated_data.get("gateway"),
            actor=request.user,
        )
        return ok(s.CheckoutOutputSerializer(result).data)


class CheckoutSuccessView(BillingActionView):
    @extend_schema(
        tags=["billing"],
        summary="Where a checkout stands",
        parameters=[s.CheckoutSuccessQuerySerializer],
        responses={200: s.CheckoutStatusSerializer},
    )
    def get(self, request):
        query = s.CheckoutSuccessQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        status = services.checkout_status(organization=self.organization, session_id=query.validated_data["session_id"])
        return ok(s.CheckoutStatusSerializer(status).data)


class BillingPortalView(BillingActionView):
    @extend_schema(
        tags=["billing"],
        summary="A link to the billing portal",
        description="The gateway's portal (sandbox: this app's billing page, valid for an hour).",
        request=s.PortalInputSerializer,
        responses={200: s.PortalOutputSerializer},
    )
    def post(self, request):
        data = s.PortalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        url = services.portal_url_for(organization=self.organization, return_url=data.validated_data["return_url"])
        return ok({"portal_url": url})


# The subscription's changes. Routed by billing.urls: POST subscriptions/cancel and
# subscriptions/reactivate, PUT subscriptions/upgrade and subscriptions/payment-method.
class SubscriptionActionViewSet(BillingActionView, ResourceViewSet):
    def _live_subscription_or_404(self) -> Subscription:
        subscription = live_subscription(organization_id=self.organization.pk)
        if subscription is None:
            raise NotFound("This organization has no subscription.")
        return subscription

    def _latest_subscription_or_404(self) -> Subscription:
        subscription = latest_subscription(organization_id=self.organization.pk)
        if subscription is None:
            raise NotFound("This organization has no subscription.")
        return subscription

    @extend_schema(
        tags=["subscriptions"],
        summary="Cancel the subscription",
        description="At the end of the period (default), or immediately with the period's usage invoiced at once.",
        request=s.CancelInputSerializer,
        responses={200: s.CancelOutputSerializer, 409: error_response("Already canceled.")},
    )
    @action(detail=False, methods=["post"])
    def cancel(self, request):
        data = s.CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = subscription_cancel(
            subscription=self._latest_subscription_or_404(),
            at_period_end=not data.validated_data["cancel_immediately"],
            reason=data.validated_data["reason"],
            actor=request.user,
        )
        return ok(s.CancelOutputSerializer(subscription).data)

    @extend_schema(
        tags=["subscriptions"],
        summary="Undo a cancellation at period end",
        request=None,
        responses={200: s.ReactivateOutputSerializer, 409: error_response("Canceled or not set to cancel.")},
    )
    @action(detail=False, methods=["post"])
    def reactivate(self, request):
        subscription = subscription_reactivate(subscription=self._latest_subscription_or_404(), actor=request.user)
        return ok(s.ReactivateOutputSerializer(subscription).data)

    @extend_schema(
        tags=["subscriptions"],
        summary="Change the plan",
        description=(
            "`prorate: true` switches now: the unused time of the old plan is credited, the rest of the "
            "period on the new plan invoiced and charged at once. `prorate: false` switches at the next "
            "period (`invoice: null`)." + IDEMPOTENCY_NOTE
        ),
        request=s.UpgradeInputSerializer,
        responses={200: s.UpgradeOutputSerializer},
    )
    @action(detail=False, methods=["put"])
    def upgrade(self, request):
        data = s.UpgradeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        new_plan = _plan_or_404(data.validated_data["new_plan_id"])
        subscription, invoice = subscription_change_plan_and_collect(
            subscription=self._live_subscription_or_404(),
            new_plan=new_plan,
            prorate=data.validated_data["prorate"],
            actor=request.user,
        )
        return ok(
            {
                "subscription": SubscriptionSerializer(subscription).data,
                "invoice": InvoiceDetailSerializer(invoice, context={"request": request}).data if invoice else None,
            }
        )

    @extend_schema(
        tags=["subscriptions"],
        summary="Set the payment method renewals charge",
        description="Sandbox: `pm_sandbox_ok` or `pm_sandbox_decline`.",
        request=s.PaymentMethodInputSerializer,
        responses={200: SubscriptionSerializer},
    )
    @action(detail=False, methods=["put"], url_path="payment-method")
    def payment_method(self, request):
        data = s.PaymentMethodInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.payment_method_update(
            organization=self.organization, payment_method_id=data.validated_data["payment_method_id"]
        )
        return ok(SubscriptionSerializer(subscription).data, message="Payment method updated successfully")


class InvoicePayView(BillingActionView):
    @extend_schema(
        tags=["invoices"],
        summary="A pay link for an open invoice",
        description="`{payment_intent_url}` to pay on the gateway's page; paid or void invoices are 409."
        + IDEMPOTENCY_NOTE,
        request=None,
        responses={200: s.PayOutputSerializer, 409: error_response("Paid or void.")},
    )
    def post(self, request, invoice_id):
        return ok(services.invoice_pay_link(organization=self.organization, invoice_id=invoice_id))


class CreditsPurchaseView(BillingActionView):
    @extend_schema(
        tags=["credits"],
        summary="Buy prepaid credit",
        description="A checkout for a credit top-up; the credit is added when the payment succeeds." + IDEMPOTENCY_NOTE,
        request=s.CreditsPurchaseInputSerializer,
        responses={200: s.CheckoutOutputSerializer},
    )
    def post(self, request):
        data = s.CreditsPurchaseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.credits_purchase_checkout(
            organization=self.organization,
            amount_cents=data.validated_data["amount_cents"],
            success_url=data.validated_data["success_url"],
            cancel_url=data.validated_data["cancel_url"],
            gateway_name=data.validated_data.get("gateway"),
        )
        return ok(s.CheckoutOutputSerializer(result).data)
