from django.urls import path

from . import views

urlpatterns = [
    path("invoices", views.InvoiceListView.as_view(), name="invoice-list"),
    path("invoices/upcoming", views.UpcomingInvoiceView.as_view(), name="invoice-upcoming"),
    path("invoices/<uuid:invoice_id>", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<uuid:invoice_id>/pdf", views.InvoicePDFView.as_view(), name="invoice-pdf"),
    path("credit-notes", views.CreditNoteListView.as_view(), name="credit-note-list"),
    path("credit-notes/<uuid:credit_note_id>", views.CreditNoteDetailView.as_view(), name="credit-note-detail"),
    path("credit-notes/<uuid:credit_note_id>/pdf", views.CreditNotePDFView.as_view(), name="credit-note-pdf"),
]
