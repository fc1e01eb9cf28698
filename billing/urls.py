"""Routes of the billing use cases, included by billing_project.urls under /api/v1/."""

from django.urls import path

from .views import accounts, overview, payments

subscription_action = payments.SubscriptionActionViewSet.as_view

urlpatterns = [
    path("auth/register", accounts.RegisterView.as_view(), name="auth-register"),
    path("profile", accounts.ProfileView.as_view(), name="profile"),
    path("checkout/create", payments.CheckoutCreateView.as_view(), name="checkout-create"),
    path("checkout/success", payments.CheckoutSuccessView.as_view(), name="checkout-success"),
    path("billing/portal", payments.BillingPortalView.as_view(), name="billing-portal"),
    path("billing/overview", overview.BillingOverviewViewSet.as_view({"get": "retrieve"}), name="billing-overview"),
    path("subscriptions/cancel", subscription_action({"post": "cancel"}), name="subscription-cancel"),
    path("subscriptions/reactivate", subscription_action({"post": "reactivate"}), name="subscription-reactivate"),
    path("subscriptions/upgrade", subscription_action({"put": "upgrade"}), name="subscription-upgrade"),
    path(
        "subscriptions/payment-method",
        subscription_action({"put": "payment_method"}),
        name="subscription-payment-method",
    ),
    path("invoices/<uuid:invoice_id>/pay", payments.InvoicePayView.as_view(), name="invoice-pay"),
    path("credits/purchase", payments.CreditsPurchaseView.as_view(), name="credits-purchase"),
]

# The organization's disputes (billing/views/disputes.py): GET, POST disputes; GET disputes/<id>;
# POST disputes/<id>/messages.
from .views.disputes import DisputeViewSet  # noqa: E402

urlpatterns += [
    path("disputes", DisputeViewSet.as_view({"get": "list", "post": "create"}), name="dispute-list"),
    path("disputes/<uuid:dispute_id>", DisputeViewSet.as_view({"get": "retrieve"}), name="dispute-detail"),
    path("disputes/<uuid:dispute_id>/messages", DisputeViewSet.as_view({"post": "messages"}), name="dispute-messages"),
]
