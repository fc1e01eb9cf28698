"""The query strings of the invoice and credit note lists (documented by
serializers.InvoiceListQuerySerializer and CreditNoteListQuerySerializer)."""

from django_filters import rest_framework as filters

from billing_project.api import filters as api

from .models import CreditNote, Invoice, InvoiceStatus

# Drafts stay internal: the lists never show them, so they are no filter value either.
ISSUED_STATUS_CHOICES = [(value, label) for value, label in InvoiceStatus.choices if value != InvoiceStatus.DRAFT]


class InvoiceFilter(filters.FilterSet):
    status = api.ChoiceFilter(choices=ISSUED_STATUS_CHOICES)

    class Meta:
        model = Invoice
        fields = ["status"]


class CreditNoteFilter(filters.FilterSet):
    invoice_id = api.UUIDFilter(field_name="invoice_id")

    class Meta:
        model = CreditNote
        fields = ["invoice_id"]
