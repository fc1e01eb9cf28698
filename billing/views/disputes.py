"""GET, POST /disputes, GET /disputes/{id}, POST /disputes/{id}/messages: the organization's
disputes (its own, and the gateways' chargebacks, read-only). Owners, admins and billing
managers, as the other billing endpoints."""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.decorators import action

from billing import serializers_disputes as s
from billing_project.api import filters as api_filters
from billing_project.api.responses import created, ok
from billing_project.api.schema import AutoSchema, error_response
from billing_project.api.viewsets import ResourceViewSet
from billing_project.errors import NotFound
from idempotency.mixins import IdempotentMixin
from organizations.context import OrgScopedAPIView
from organizations.models import BILLING_ROLES
from payments import disputes
from payments.models import Dispute, DisputeSource, DisputeStatus

IDEMPOTENCY_NOTE = (
    " Send `Idempotency-Key` to make a retry safe: the same key and body return the first answer, "
    "another body is 422, a key still being processed is 409."
)

_EXAMPLE_ID = "7d1f0e52-3c1b-4c3e-9a51-0f6c2b8e4a10"
_EXAMPLE_DISPUTE = {
    "id": _EXAMPLE_ID,
    "source": "customer",
    "status": "open",
    "invoice_id": "0b9c6d9e-5f43-4a8e-8f0e-2a1d7c3b9e21",
    "invoice_number": "INV-2026-000042",
    "transaction_id": None,
    "reason": "duplicate",
    "description": "We were charged twice for November.",
    "amount_cents": 2999,
    "requested_refund_cents": 2999,
    "currency": "USD",
    "gateway": "",
    "resolution": None,
    "resolution_note": "",
    "opened_at": "2026-12-04T10:30:00Z",
    "resolved_at": None,
    "closed_at": None,
    "history": [
        {
            "id": "5a2f8c1d-9b7e-4d3a-8c6f-1e0b2a3d4c5e",
            "kind": "status_changed",
            "actor": "customer",
            "author_name": "Ada Lovelace",
            "from_status": None,
            "to_status": "open",
            "message": "",
            "created_at": "2026-12-04T10:30:00Z",
        }
    ],
}
_EXAMPLE_MESSAGE = {
    "id": "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
    "kind": "message",
    "actor": "customer",
    "author_name": "Ada Lovelace",
    "from_status": None,
    "to_status": None,
    "message": "The second charge is on our card statement of December 1.",
    "created_at": "2026-12-04T11:02:00Z",
}


class DisputeSchema(AutoSchema):
    """The POSTs honour Idempotency-Key like the money movers, but no dispute endpoint calls a
    gateway: no 502 is documented."""

    def _view_error_statuses(self) -> list[str]:
        return [status for status in super()._view_error_statuses() if status != "502"]


class DisputeFilter(filters.FilterSet):
    status = api_filters.ChoiceFilter(choices=DisputeStatus.choices)
    source = api_filters.ChoiceFilter(choices=DisputeSource.choices)

    class Meta:
        model = Dispute
        fields = ["status", "source"]


class DisputeViewSet(IdempotentMixin, OrgScopedAPIView, ResourceViewSet):
    org_roles = BILLING_ROLES
    idempotent_methods = ("POST",)
    queryset = Dispute.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.DisputeSerializer
    filterset_class = DisputeFilter
    lookup_url_kwarg = "dispute_id"
    lookup_value_converter = "uuid"
    schema = DisputeSchema()

    def get_queryset(self):
        return disputes.disputes_of(organization=self.organization)

    def _dispute_or_404(self, dispute_id) -> Dispute:
        dispute = disputes.dispute_of(organization=self.organization, dispute_id=dispute_id)
        if dispute is None:
            raise NotFound("Dispute not found.")
        return dispute

    @extend_schema(
        tags=["disputes"],
        summary="Disputes",
        description=(
            "The organization's disputes, newest first, each with its history: the ones opened here "
            "(`source: customer`) and the gateways' chargebacks (`source: gateway`). "
            "`?status=` and `?source=` filter them."
        ),
        parameters=[s.DisputeListQuerySerializer],
        responses={200: s.DisputeSerializer(many=True)},
    )
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=["disputes"],
        summary="Dispute an invoice or a credit charge",
        description=(
            "About one issued invoice (`invoice_id`, not a draft or void) or one charge to the credit balance "
            "(`transaction_id`: a ledger entry that took credit), exactly one of them. `requested_refund_cents` "
            "is at most what the invoice was paid, or what the transaction took. Another organization's invoice "
            "or transaction is 404; one that already has an unresolved dispute is 409. The billing email (or the "
            "owners) get a confirmation with the link to the dispute's page. Staff review it: it becomes "
            "`under_review`, then `resolved` with a `resolution` (refund, credit or rejected)." + IDEMPOTENCY_NOTE
        ),
        request=s.DisputeOpenInputSerializer,
        responses={
            201: s.DisputeSerializer,
            409: error_response(
                "The invoice or transaction already has an unresolved dispute (`conflict`), or the "
                "Idempotency-Key is still being processed (`idempotency_in_progress`)."
            ),
        },
        examples=[
            OpenApiExample(
                "An invoice charged twice",
                request_only=True,
                value={
                    "invoice_id": "0b9c6d9e-5f43-4a8e-8f0e-2a1d7c3b9e21",
                    "reason": "duplicate",
                    "description": "We were charged twice for November.",
                    "requested_refund_cents": 2999,
                },
            ),
            OpenApiExample(
                "A credit spend",
                request_only=True,
                value={
                    "transaction_id": "3e4d5c6b-7a89-4b0c-9d1e-2f3a4b5c6d7e",
                    "reason": "service_not_provided",
                    "description": "The job behind this spend failed and produced nothing.",
                    "requested_refund_cents": 500,
                },
            ),
            OpenApiExample(
                "Opened",
                response_only=True,
                status_codes=["201"],
                value={"success": True, "data": _EXAMPLE_DISPUTE, "message": "Dispute opened."},
            ),
        ],
    )
    def create(self, request):
        data = s.DisputeOpenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = disputes.dispute_open(
            organization=self.organization,
            opened_by=request.user,
            reason=data.validated_data["reason"],
            description=data.validated_data["description"],
            requested_refund_cents=data.validated_data["requested_refund_cents"],
            invoice_id=data.validated_data.get("invoice_id"),
            transaction_id=data.validated_data.get("transaction_id"),
        )
        dispute = self._dispute_or_404(dispute.pk)
        return created(s.DisputeSerializer(dispute).data, message="Dispute opened.")

    @extend_schema(
        tags=["disputes"],
        summary="One dispute with its history",
        description="Status changes (with staff's notes) and messages, oldest first.",
        responses={200: s.DisputeSerializer},
        examples=[
            OpenApiExample(
                "A dispute", response_only=True, status_codes=["200"], value={"success": True, "data": _EXAMPLE_DISPUTE}
            )
        ],
    )
    def retrieve(self, request, dispute_id):
        return ok(s.DisputeSerializer(self._dispute_or_404(dispute_id)).data)

    @extend_schema(
        tags=["disputes"],
        summary="Add a message to a dispute",
        description=(
            "For the support team reviewing it, while it is not resolved. A resolved dispute, or a "
            "chargeback (decided by the card issuer through the gateway), is 409." + IDEMPOTENCY_NOTE
        ),
        request=s.DisputeMessageInputSerializer,
        responses={
            201: s.DisputeEventSerializer,
            409: error_response(
                "The dispute is resolved or is a chargeback (`conflict`), or the Idempotency-Key is still "
                "being processed (`idempotency_in_progress`)."
            ),
        },
        examples=[
            OpenApiExample(
                "A message",
                request_only=True,
                value={"message": "The second charge is on our card statement of December 1."},
            ),
            OpenApiExample(
                "Added",
                response_only=True,
                status_codes=["201"],
                value={"success": True, "data": _EXAMPLE_MESSAGE, "message": "Message added."},
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def messages(self, request, dispute_id):
        dispute = self._dispute_or_404(dispute_id)
        data = s.DisputeMessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = disputes.dispute_message_add(
            dispute=dispute, message=data.validated_data["message"], author=request.user
        )
        return created(s.DisputeEventSerializer(event).data, message="Message added.")
