from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.permissions import AllowAny

from billing_project.api.responses import ok
from billing_project.api.viewsets import ResourceViewSet
from billing_project.errors import NotFound
from organizations.context import OrgScopedAPIView

from . import selectors
from . import serializers as s
from .filters import PlanFilter
from .models import Plan


# The public catalogue: no authentication.
class PlanViewSet(mixins.ListModelMixin, ResourceViewSet):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    queryset = Plan.objects.none()  # the model, for the schema; get_queryset reads the catalogue
    serializer_class = s.PlanSerializer
    filterset_class = PlanFilter
    lookup_url_kwarg = "plan_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return selectors.plans_public()

    @extend_schema(
        tags=["plans"],
        summary="Plans",
        description=(
            "Every plan (its current version) with its price, features, monthly limits and usage charges. "
            "`?active=true` filters."
        ),
        parameters=[s.PlanListQuerySerializer],
        responses={200: s.PlanSerializer(many=True)},
        auth=[],
    )
    def list(self, request):
        return super().list(request)

    @extend_schema(
        tags=["plans"],
        summary="One plan",
        description="A plan by id, a replaced version included (its subscribers are still billed on it).",
        responses={200: s.PlanSerializer},
        auth=[],
    )
    def retrieve(self, request, plan_id):
        plan = selectors.plan_public(plan_id=plan_id)
        if plan is None:
            raise NotFound("Plan not found.")
        return ok(s.PlanSerializer(plan).data)


class EntitlementViewSet(OrgScopedAPIView, ResourceViewSet):
    @extend_schema(
        tags=["plans"],
        summary="What your plan entitles",
        description="The current organization's plan and its features.",
        responses={200: s.EntitlementsSerializer},
    )
    def retrieve(self, request):
        return ok(selectors.entitlements_of(organization_id=self.organization.pk))
