from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from billing_project.api.pagination import EnvelopeLimitOffsetPagination, paginated_response
from billing_project.api.responses import ok
from billing_project.errors import NotFound
from organizations.context import OrgScopedAPIView

from . import selectors
from . import serializers as s


class PublicPlansView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class PlanListView(PublicPlansView):
    pagination_class = EnvelopeLimitOffsetPagination

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
    def get(self, request):
        query = s.PlanListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        plans = selectors.plans_public(active=query.validated_data["active"])
        return paginated_response(request=request, view=self, queryset=plans, serializer_class=s.PlanSerializer)


class PlanDetailView(PublicPlansView):
    @extend_schema(
        tags=["plans"],
        summary="One plan",
        description="A plan by id, a replaced version included (its subscribers are still billed on it).",
        responses={200: s.PlanSerializer},
        auth=[],
    )
    def get(self, request, plan_id):
        plan = selectors.plans_public(current_only=False).filter(pk=plan_id).first()
        if plan is None:
            raise NotFound("Plan not found.")
        return ok(s.PlanSerializer(plan).data)


class EntitlementsView(OrgScopedAPIView):
    @extend_schema(
        tags=["plans"],
        summary="What your plan entitles",
        description="The current organization's plan and its features.",
        responses={200: s.EntitlementsSerializer},
    )
    def get(self, request):
        terms = selectors.plan_terms_for_organization(organization_id=self.organization.pk)
        data = {
            "plan": {"id": terms.id, "code": terms.code, "name": terms.name} if terms else None,
            "features": terms.features if terms else {},
        }
        return ok(data)
