"""Routes of the billing use cases, included by billing_project.urls under /api/v1/."""

from django.urls import path

from .views import accounts, overview, payments

urlpatterns = [
    path("auth/register", accounts.RegisterView.as_view(), name="auth-register"),
    path("profile", accounts.ProfileView.as_view(), name="profile"),
    path("checkout/create", payments.CheckoutCreateView.as_view(), name="checkout-create"),
    path("checkout/success", payments.CheckoutSuccessView.as_view(), name="checkout-success"),
    path("billing/portal", payments.BillingPortalView.as_view(), name="billing-portal"),
    path("billing/overview", overview.BillingOverviewView.as_view(), name="billing-overview"),
    path("subscriptions/cancel", payments.SubscriptionCancelView.as_view(), name="subscription-cancel"),
    path("subscriptions/reactivate", payments.SubscriptionReactivateView.as_view(), name="subscription-reactivate"),
    path("subscriptions/upgrade", payments.SubscriptionUpgradeView.as_view(), name="subscription-upgrade"),
    path("subscriptions/payment-method", payments.PaymentMethodView.as_view(), name="subscription-payment-method"),
    path("invoices/<uuid:invoice_id>/pay", payments.InvoicePayView.as_view(), name="invoice-pay"),
    path("credits/purchase", payments.CreditsPurchaseView.as_view(), name="credits-purchase"),
]
