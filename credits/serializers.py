"""Request and response shapes of the credit endpoints."""

from rest_framework import serializers

from billing_project.api.fields import WholeCentsField

from .models import CreditLedgerEntry, EntryKind
from .services import MAX_AMOUNT_CENTS


class BalanceSerializer(serializers.Serializer):
    balance_cents = serializers.IntegerField()
    currency = serializers.CharField(help_text="ISO 4217")


class LedgerEntrySerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(source="kind", choices=EntryKind.choices, read_only=True)
    invoice_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = CreditLedgerEntry
        fields = [
            "id",
            "type",
            "amount_cents",
            "currency",
            "balance_after_cents",
            "reference",
            "description",
            "invoice_id",
            "created_at",
            "expires_at",
        ]
        read_only_fields = fields


# The query of GET /credits/transactions, for the OpenAPI schema; credits.filters.LedgerEntryFilter
# reads it (the same parameters: credits/tests/test_filters.py).
class TransactionsQuerySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EntryKind.choices, required=False, help_text="Only entries of this type.")
    start_date = serializers.DateField(required=False, help_text="YYYY-MM-DD (UTC), inclusive.")
    end_date = serializers.DateField(required=False, help_text="YYYY-MM-DD (UTC), inclusive.")
    sort_by = serializers.ChoiceField(choices=["created_at", "amount"], default="created_at")
    sort_order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


class SpendInputSerializer(serializers.Serializer):
    amount_cents = WholeCentsField(min_value=1, max_value=MAX_AMOUNT_CENTS, help_text="Minor units to take, > 0.")
    reference = serializers.CharField(max_length=255, help_text="Your reference for what the credit paid for.")
    idempotency_key = serializers.CharField(
        max_length=255, help_text="Unique per organization; a replay returns the first result and spends nothing."
    )


class SpendOutputSerializer(serializers.Serializer):
    balance_cents = serializers.IntegerField(help_text="The balance after the spend.")
    duplicate = serializers.BooleanField(help_text="True when the idempotency key was seen before (spent once).")
