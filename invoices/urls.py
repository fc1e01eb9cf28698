from django.urls import path

from . import views

urlpatterns = [
    path("invoices", views.InvoiceListView.as_view(), name="invoice-list"),
    path("invoices/upcoming", views.UpcomingInvoiceView.as_view(), name="invoice-upcoming"),
    path("invoices/<uuid:invoice_id>", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<uuid:invoice_id>/pdf", views.InvoicePDFView.as_view(), name="invoice-pdf"),
    path("billing/overview", views.BillingOverviewView.as_view(), name="billing-overview"),
]
