from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action

from apikeys.authentication import APIKeyAuthentication
from apikeys.permissions import requires_scope
from billing_project.api.lean import LeanServiceView
from billing_project.api.responses import ok
from billing_project.api.schema import error_response
from billing_project.api.viewsets import ResourceViewSet
from billing_project.errors import PermissionDenied
from organizations.context import OrgScopedAPIView
from organizations.models import BILLING_ROLES, Organization

from . import selectors, services
from . import serializers as s
from .filters import LedgerEntryFilter
from .models import CreditLedgerEntry


# The credit of the current organization (X-Current-Org); owners, admins and billing.
class CreditViewSet(OrgScopedAPIView, ResourceViewSet):
    org_roles = BILLING_ROLES
    queryset = CreditLedgerEntry.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.LedgerEntrySerializer
    filterset_class = LedgerEntryFilter

    def get_queryset(self):
        return selectors.ledger_entries(organization=self.organization)

    @extend_schema(
        tags=["credits"],
        summary="Credit balance",
        description="Prepaid credit left, in minor units of `currency`.",
        responses={200: s.BalanceSerializer},
    )
    @action(detail=False)
    def balance(self, request):
        balance_cents, currency = selectors.balance_of(organization=self.organization)
        return ok({"balance_cents": balance_cents, "currency": currency})

    @extend_schema(
        tags=["credits"],
        summary="Credit ledger",
        description=(
            "Every movement of credit, newest first by default. `type` filters by kind; "
            "`start_date`/`end_date` are UTC days, both inclusive; `sort_by=amount` sorts by the signed amount."
        ),
        parameters=[s.TransactionsQuerySerializer],
        responses={200: s.LedgerEntrySerializer(many=True)},
    )
    @action(detail=False)
    def transactions(self, request):
        entries = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class CreditSpendView(LeanServiceView):
    """API key only (scope `credits:write`), never a user's JWT."""

    authenticator = APIKeyAuthentication()
    authentication_classes = [APIKeyAuthentication]
    throttle_classes: list = []
    required_scope = "credits:write"
    permission_classes = [requires_scope(required_scope)]

    @extend_schema(
        tags=["credits (service)"],
        summary="Spend credit",
        description=(
            "Takes `amount_cents` from the organization's credit. A replayed `idempotency_key` answers the first "
            "result with `duplicate: true` and spends nothing; the same key with another amount or reference is "
            "422. Not enough credit: 402 `insufficient_credits`, nothing spent. Test-mode keys are refused (403)."
        ),
        request=s.SpendInputSerializer,
        responses={
            200: s.SpendOutputSerializer,
            402: error_response("Not enough credit (`insufficient_credits`); nothing was spent."),
            422: error_response("The idempotency key was used for another request (`idempotency_key_reused`)."),
        },
    )
    def post(self, request):
        if not request.auth.livemode:
            raise PermissionDenied("Test-mode API keys cannot spend credits; use a live key.")
        data = s.SpendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = Organization.objects.get(pk=request.auth.organization_id)
        result = services.credits_spend(organization=organization, **data.validated_data)
        return ok({"balance_cents": result.balance_cents, "duplicate": result.duplicate})
