from rest_framework import serializers

from .models import CreditNote, CreditNoteLine, Invoice, InvoiceLine, InvoiceStatus


class InvoiceLineSerializer(serializers.ModelSerializer):
    metric = serializers.CharField(source="metric.code", allow_null=True, default=None)
    quantity = serializers.DecimalField(max_digits=24, decimal_places=6, coerce_to_string=True)
    unit_price = serializers.DecimalField(
        max_digits=24, decimal_places=6, help_text="Minor units; may be a fraction of one."
    )

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "kind",
            "description",
            "metric",
            "quantity",
            "unit_price",
            "amount_cents",
            "period_start",
            "period_end",
        ]
        read_only_fields = fields


class InvoiceListSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="number")
    amount_due_cents = serializers.IntegerField()
    issued_at = serializers.DateTimeField(source="finalized_at")

    class Meta:
        model = Invoice
        fields = [
            "id",
            "invoice_number",
            "status",
            "reason",
            "total_cents",
            "amount_due_cents",
            "currency",
            "period_start",
            "period_end",
            "due_date",
            "issued_at",
            "paid_at",
        ]
        read_only_fields = fields


def _absolute(context, path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


class CreditNoteLineSerializer(serializers.ModelSerializer):
    invoice_line_id = serializers.IntegerField(allow_null=True)
    quantity = serializers.DecimalField(max_digits=24, decimal_places=6)
    unit_price = serializers.DecimalField(max_digits=24, decimal_places=6, help_text="Minor units.")

    class Meta:
        model = CreditNoteLine
        fields = [
            "id",
            "invoice_line_id",
            "description",
            "quantity",
            "unit_price",
            "amount_cents",
            "period_start",
            "period_end",
        ]
        read_only_fields = fields


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice_id = serializers.UUIDField()
    invoice_number = serializers.CharField(source="invoice.number")
    lines = CreditNoteLineSerializer(many=True)
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "invoice_id",
            "invoice_number",
            "reason",
            "memo",
            "refund_method",
            "currency",
            "subtotal_cents",
            "tax_rate",
            "tax_cents",
            "total_cents",
            "off_invoice_cents",
            "refunded_cents",
            "credited_cents",
            "returned_credit_cents",
            "issued_at",
            "lines",
            "pdf_url",
        ]
        read_only_fields = fields

    def get_pdf_url(self, note) -> str:
        return _absolute(self.context, f"/api/v1/credit-notes/{note.pk}/pdf")


class InvoiceDetailSerializer(InvoiceListSerializer):
    line_items = InvoiceLineSerializer(source="lines", many=True)
    credit_notes = CreditNoteSerializer(many=True)
    pdf_url = serializers.SerializerMethodField()

    class Meta(InvoiceListSerializer.Meta):
        fields = [
            *InvoiceListSerializer.Meta.fields,
            "subtotal_cents",
            "credit_applied_cents",
            "tax_rate",
            "tax_cents",
            "amount_paid_cents",
            "pre_payment_credited_cents",
            "post_payment_credited_cents",
            "line_items",
            "credit_notes",
            "pdf_url",
        ]
        read_only_fields = fields

    def get_pdf_url(self, invoice) -> str:
        return _absolute(self.context, f"/api/v1/invoices/{invoice.pk}/pdf")


class UpcomingLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    metric = serializers.CharField(source="metric_code", allow_null=True)
    quantity = serializers.DecimalField(max_digits=24, decimal_places=6)
    unit_price = serializers.DecimalField(max_digits=24, decimal_places=6)
    amount_cents = serializers.IntegerField()
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)


class UpcomingSegmentSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField()
    plan_code = serializers.CharField()
    plan_name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class UpcomingInvoiceSerializer(serializers.Serializer):
    subscription_id = serializers.UUIDField()
    currency = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    line_items = UpcomingLineSerializer(many=True)
    segments = UpcomingSegmentSerializer(
        many=True, help_text="The plans the period's usage so far is rated on, each for its own stretch of time."
    )
    subtotal_cents = serializers.IntegerField()
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    tax_cents = serializers.IntegerField()
    credit_applied_cents = serializers.IntegerField(help_text="What the current credit balance would cover.")
    total_cents = serializers.IntegerField()
    next_payment_attempt = serializers.DateTimeField(help_text="When it will be issued: the period end.")


# The queries of GET /credit-notes and /invoices, for the OpenAPI schema; invoices.filters
# reads them (the same parameters: invoices/tests/test_filters.py).
class CreditNoteListQuerySerializer(serializers.Serializer):
    invoice_id = serializers.UUIDField(required=False)


class InvoiceListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[c for c in InvoiceStatus.values if c != "draft"], required=False)


class PaymentMethodSerializer(serializers.Serializer):
    id = serializers.CharField()
    gateway = serializers.CharField()


class BillingTotalsSerializer(serializers.Serializer):
    spent_cents = serializers.IntegerField()
    pending_cents = serializers.IntegerField()
    invoice_count = serializers.IntegerField()


class BillingOverviewSerializer(serializers.Serializer):
    subscription = serializers.DictField(allow_null=True)
    credit_balance_cents = serializers.IntegerField()
    currency = serializers.CharField()
    recent_invoices = InvoiceListSerializer(many=True)
    disputes = serializers.ListField(child=serializers.DictField())
    payment_methods = PaymentMethodSerializer(many=True)
    totals = BillingTotalsSerializer()
