"""Request and response shapes of /disputes (the rules are payments.disputes')."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing_project.api.fields import WholeCentsField
from billing_project.api.text import text_problem
from payments.disputes import MAX_AMOUNT_CENTS, MAX_TEXT
from payments.models import (
    Dispute,
    DisputeActor,
    DisputeEvent,
    DisputeEventKind,
    DisputeReason,
    DisputeResolution,
    DisputeSource,
    DisputeStatus,
)


def storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class DisputeOpenInputSerializer(serializers.Serializer):
    invoice_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="An issued invoice of the organization (not a draft or void)."
    )
    transaction_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A credit ledger entry that took credit (a spend, credit applied to an invoice, an expiry).",
    )
    reason = serializers.ChoiceField(choices=DisputeReason.choices)
    description = serializers.CharField(
        max_length=MAX_TEXT, validators=[storable_text], help_text="What is wrong, in your words."
    )
    requested_refund_cents = WholeCentsField(
        min_value=0,
        max_value=MAX_AMOUNT_CENTS,
        help_text="What you ask back, in minor units: at most what the invoice was paid, or the transaction took.",
    )

    def validate(self, attrs):
        if (attrs.get("invoice_id") is None) == (attrs.get("transaction_id") is None):
            message = "Give invoice_id or transaction_id (one of them)."
            raise serializers.ValidationError({"invoice_id": [message], "transaction_id": [message]})
        return attrs


class DisputeMessageInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=MAX_TEXT, validators=[storable_text])


_STATUS_HELP = f"A status of the dispute ({', '.join(DisputeStatus.values)}); null for a message, and before the first."


class DisputeEventSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=DisputeEventKind.choices, read_only=True)
    actor = serializers.ChoiceField(
        choices=DisputeActor.choices,
        read_only=True,
        help_text="customer (a member of the organization), staff (our support team) or system (the gateway).",
    )
    author_name = serializers.SerializerMethodField(help_text="The member who wrote it; null for staff and system.")
    from_status = serializers.SerializerMethodField()
    to_status = serializers.SerializerMethodField()

    class Meta:
        model = DisputeEvent
        fields = ["id", "kind", "actor", "author_name", "from_status", "to_status", "message", "created_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_author_name(self, event: DisputeEvent) -> str | None:
        if event.actor != DisputeActor.CUSTOMER or event.author is None:
            return None
        return event.author.get_full_name()

    # Plain strings in the schema: the same choice set as the dispute's `status` under two more
    # names would make drf-spectacular warn about the enum's name.
    @extend_schema_field(serializers.CharField(allow_null=True, help_text=_STATUS_HELP))
    def get_from_status(self, event: DisputeEvent) -> str | None:
        return event.from_status or None

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=_STATUS_HELP))
    def get_to_status(self, event: DisputeEvent) -> str | None:
        return event.to_status or None


class DisputeSerializer(serializers.ModelSerializer):
    source = serializers.ChoiceField(
        choices=DisputeSource.choices,
        read_only=True,
        help_text="customer: opened here; gateway: a chargeback the card issuer opened (read-only here).",
    )
    status = serializers.ChoiceField(
        choices=DisputeStatus.choices,
        read_only=True,
        help_text="Customer disputes: open, under_review, resolved. Chargebacks: open, won, lost or closed.",
    )
    invoice_id = serializers.UUIDField(allow_null=True, read_only=True)
    invoice_number = serializers.SerializerMethodField()
    transaction_id = serializers.UUIDField(source="credit_entry_id", allow_null=True, read_only=True)
    resolution = serializers.SerializerMethodField()
    history = DisputeEventSerializer(source="events", many=True, read_only=True)

    class Meta:
        model = Dispute
        fields = [
            "id",
            "source",
            "status",
            "invoice_id",
            "invoice_number",
            "transaction_id",
            "reason",
            "description",
            "amount_cents",
            "requested_refund_cents",
            "currency",
            "gateway",
            "resolution",
            "resolution_note",
            "opened_at",
            "resolved_at",
            "closed_at",
            "history",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reason": {"help_text": "Customer disputes: one of the reasons of POST; chargebacks: the gateway's word."},
            "amount_cents": {"help_text": "The money in dispute: the chargeback's amount, or what is asked back."},
            "gateway": {"help_text": "The gateway of a chargeback; empty for a customer dispute."},
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_invoice_number(self, dispute: Dispute) -> str | None:
        return dispute.invoice.number if dispute.invoice_id else None

    @extend_schema_field(serializers.ChoiceField(choices=DisputeResolution.choices, allow_null=True))
    def get_resolution(self, dispute: Dispute) -> str | None:
        return dispute.resolution or None


class DisputeListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DisputeStatus.choices, required=False)
    source = serializers.ChoiceField(choices=DisputeSource.choices, required=False)
