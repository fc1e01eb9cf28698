from django.http import FileResponse, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action

from billing_project.api.negotiation import PDFContentNegotiation
from billing_project.api.responses import ok
from billing_project.api.viewsets import ResourceViewSet
from billing_project.errors import NotFound
from organizations.context import OrgScopedAPIView
from organizations.models import BILLING_ROLES

from . import selectors
from . import serializers as s
from .filters import CreditNoteFilter, InvoiceFilter
from .models import CreditNote, Invoice
from .pdf import credit_note_pdf_bytes, credit_note_pdf_store, invoice_pdf_bytes, invoice_pdf_store


class BillingViewSet(OrgScopedAPIView, ResourceViewSet):
    """Billing data of the current organization: owners, admins and billing managers."""

    org_roles = BILLING_ROLES


def _pdf_response(document, *, store, render, filename: str):
    if not document.pdf:
        document = store()
    if document.pdf:
        response = FileResponse(document.pdf.open("rb"), content_type="application/pdf")
    else:  # storage unavailable: answer the rendering itself
        response = HttpResponse(render(document), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


_PDF_RESPONSE = {(200, "application/pdf"): OpenApiResponse(response=OpenApiTypes.BINARY, description="The PDF")}


class InvoiceViewSet(BillingViewSet, mixins.ListModelMixin):
    queryset = Invoice.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.InvoiceListSerializer
    filterset_class = InvoiceFilter
    lookup_url_kwarg = "invoice_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return selectors.invoices_of(organization=self.organization)

    def _invoice_or_404(self, invoice_id):
        invoice = selectors.invoice_of(organization=self.organization, invoice_id=invoice_id)
        if invoice is None:
            raise NotFound("Invoice not found.")
        return invoice

    @extend_schema(
        tags=["invoices"],
        summary="Invoices",
        description="Issued invoices, newest first; `?status=open|paid|void|uncollectible`.",
        parameters=[s.InvoiceListQuerySerializer],
        responses={200: s.InvoiceListSerializer(many=True)},
    )
    def list(self, request):
        return super().list(request)

    @extend_schema(tags=["invoices"], summary="One invoice with its lines", responses={200: s.InvoiceDetailSerializer})
    def retrieve(self, request, invoice_id):
        invoice = self._invoice_or_404(invoice_id)
        return ok(s.InvoiceDetailSerializer(invoice, context={"request": request}).data)

    @extend_schema(
        tags=["invoices"],
        summary="The invoice as PDF",
        description=(
            "Rendered on demand when it has not been rendered yet. Send `Accept: application/pdf` "
            "(or `*/*`, or no Accept); errors are JSON envelopes; an Accept that rules out PDF is a 406."
        ),
        responses=_PDF_RESPONSE,
    )
    # `Accept: application/pdf` (or */*, or none) gets the PDF; errors stay JSON envelopes.
    @action(detail=True, content_negotiation_class=PDFContentNegotiation)
    def pdf(self, request, invoice_id):
        invoice = self._invoice_or_404(invoice_id)
        return _pdf_response(
            invoice,
            store=lambda: invoice_pdf_store(invoice_id=invoice.pk),
            render=invoice_pdf_bytes,
            filename=f"{invoice.number}.pdf",
        )

    @extend_schema(
        tags=["invoices"],
        summary="The upcoming invoice (a preview, never stored)",
        description=(
            "What the current period would be invoiced if it ended now: usage so far, the next "
            "period's base fee, pending lines, tax and the credit your balance would cover. "
            "404 without a subscription."
        ),
        responses={200: s.UpcomingInvoiceSerializer},
    )
    @action(detail=False)
    def upcoming(self, request):
        upcoming = selectors.upcoming_invoice(organization=self.organization, now=timezone.now())
        if upcoming is None:
            raise NotFound("There is no upcoming invoice: the organization has no subscription.")
        return ok(s.UpcomingInvoiceSerializer(upcoming).data)


class CreditNoteViewSet(BillingViewSet, mixins.ListModelMixin):
    queryset = CreditNote.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.CreditNoteSerializer
    filterset_class = CreditNoteFilter
    lookup_url_kwarg = "credit_note_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return selectors.credit_notes_of(organization=self.organization)

    def _credit_note_or_404(self, credit_note_id):
        note = selectors.credit_note_of(organization=self.organization, credit_note_id=credit_note_id)
        if note is None:
            raise NotFound("Credit note not found.")
        return note

    @extend_schema(
        tags=["invoices"],
        summary="Credit notes",
        description="Corrections of issued invoices, newest first; `?invoice_id=` for one invoice's.",
        parameters=[s.CreditNoteListQuerySerializer],
        responses={200: s.CreditNoteSerializer(many=True)},
    )
    def list(self, request):
        return super().list(request)

    @extend_schema(tags=["invoices"], summary="One credit note with its lines", responses={200: s.CreditNoteSerializer})
    def retrieve(self, request, credit_note_id):
        note = self._credit_note_or_404(credit_note_id)
        return ok(s.CreditNoteSerializer(note, context={"request": request}).data)

    @extend_schema(
        tags=["invoices"],
        summary="The credit note as PDF",
        description="Send `Accept: application/pdf` (or `*/*`, or no Accept); errors are JSON envelopes.",
        responses=_PDF_RESPONSE,
    )
    @action(detail=True, content_negotiation_class=PDFContentNegotiation)
    def pdf(self, request, credit_note_id):
        note = self._credit_note_or_404(credit_note_id)
        return _pdf_response(
            note,
            store=lambda: credit_note_pdf_store(credit_note_id=note.pk),
            render=credit_note_pdf_bytes,
            filename=f"{note.number}.pdf",
        )
