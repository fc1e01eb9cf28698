from django.urls import path

from . import views

urlpatterns = [
    path("checkout/create", views.CheckoutCreateView.as_view(), name="checkout-create"),
    path("checkout/success", views.CheckoutSuccessView.as_view(), name="checkout-success"),
    path("billing/portal", views.BillingPortalView.as_view(), name="billing-portal"),
    path("subscriptions/cancel", views.SubscriptionCancelView.as_view(), name="subscription-cancel"),
    path("subscriptions/reactivate", views.SubscriptionReactivateView.as_view(), name="subscription-reactivate"),
    path("subscriptions/upgrade", views.SubscriptionUpgradeView.as_view(), name="subscription-upgrade"),
    path("subscriptions/payment-method", views.PaymentMethodView.as_view(), name="subscription-payment-method"),
    path("invoices/<uuid:invoice_id>/pay", views.InvoicePayView.as_view(), name="invoice-pay"),
    path("credits/purchase", views.CreditsPurchaseView.as_view(), name="credits-purchase"),
]
