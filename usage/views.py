from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action

from apikeys.authentication import APIKeyAuthentication
from apikeys.permissions import requires_scope
from billing_project.api.lean import LeanServiceView
from billing_project.api.responses import created, ok
from billing_project.api.schema import error_response
from billing_project.api.viewsets import ResourceViewSet
from organizations.context import OrgScopedAPIView

from . import selectors, services
from . import serializers as s
from .authentication import ProvisionalServiceKeyAuthentication, ServiceKeyAuthentication


class ServiceView(LeanServiceView):
    """Endpoints for the customer's own services: API key only, never a user's JWT.

    `authentication_classes` and `permission_classes` describe them for the OpenAPI
    schema; the lean dispatch applies the same `authenticator` and `required_scope`.
    """

    authenticator = ServiceKeyAuthentication()
    authentication_classes = [APIKeyAuthentication]  # what the schema shows: the same API key
    throttle_classes: list = []


class UsageReportView(ServiceView):
    required_scope = "usage:write"
    permission_classes = [requires_scope(required_scope)]
    refuse_unstorable_text = False  # usage.events checks each text field of the event

    @extend_schema(
        tags=["usage (service)"],
        summary="Report one usage event",
        description=(
            "201 with `duplicate: false` when recorded; 200 with `duplicate: true` when its "
            "`idempotency_key` was seen before (counted once)."
        ),
        request=s.UsageEventInputSerializer,
        responses={201: s.UsageReportOutputSerializer, 200: s.UsageReportOutputSerializer},
    )
    def post(self, request):
        result = services.usage_report(principal=request.auth, context=request.billing_context, payload=request.data)
        data = {
            "recorded_at": result.recorded_at.replace(microsecond=0),
            "duplicate": result.duplicate,
            "remaining_quota": result.remaining_quota,
        }
        return ok(data) if result.duplicate else created(data)


class UsageBatchReportView(ServiceView):
    required_scope = "usage:write"
    permission_classes = [requires_scope(required_scope)]
    # 1000 events with up to 4 KB of metadata each; an event with unstorable text fails
    # alone (usage.events), the rest of the batch is kept.
    body_limit_setting = "USAGE_BATCH_MAX_BODY_BYTES"
    refuse_unstorable_text = False

    @extend_schema(
        tags=["usage (service)"],
        summary="Report up to 1000 events",
        description="Valid events are kept even when others fail; each failure is listed with its index.",
        request=s.BatchInputSerializer,
        responses={200: s.BatchOutputSerializer},
    )
    def post(self, request):
        events = request.data.get("events") if isinstance(request.data, dict) else None
        result = services.usage_batch_report(principal=request.auth, context=request.billing_context, events=events)
        return ok(
            {
                "processed_count": result.processed_count,
                "duplicate_count": result.duplicate_count,
                "failed_count": result.failed_count,
                "errors": result.errors,
                "remaining_quota": result.remaining_quota,
            }
        )


class QuotaCheckView(ServiceView):
    authenticator = ProvisionalServiceKeyAuthentication()
    required_scope = "usage:read"
    permission_classes = [requires_scope(required_scope)]

    @extend_schema(
        tags=["usage (service)"],
        summary="Check quota before doing work",
        description=(
            "`?tokens_needed=&requests_needed=` or `?metric=&quantity=`. Over a hard quota: 429 "
            "`quota_exceeded` with `data: {allowed: false, remaining, resets_at}`."
        ),
        parameters=[s.QuotaCheckQuerySerializer],
        responses={200: s.QuotaCheckOutputSerializer, 429: error_response("Over quota (`quota_exceeded`).")},
    )
    def get(self, request):
        needs = services.quota_needs_from_query(request.query_params)
        result = services.quota_check(principal=request.auth, context=request.billing_context, needs=needs)
        return ok({"allowed": result.allowed, "remaining": result.remaining, "resets_at": result.resets_at})


# The usage of the current organization, for people (JWT). Not a FilterSet's list: the
# history is a series computed per day or month (usage.selectors.usage_history), not rows
# to filter, so its window is read by serializers.HistoryQuerySerializer.
class UsageViewSet(OrgScopedAPIView, ResourceViewSet):
    filter_backends: list = []

    @extend_schema(
        tags=["usage"],
        summary="Usage this period",
        description="Totals per metric against the plan; `group_by=day` adds a daily `series`.",
        parameters=[s.UsageQuerySerializer],
        responses={200: s.UsageOutputSerializer},
    )
    def overview(self, request):
        query = s.UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        overview = selectors.usage_overview(
            organization_id=self.organization.pk,
            period=query.validated_data["period"],
            now=timezone.now(),
            with_series=query.validated_data.get("group_by") == "day",
        )
        return ok(s.UsageOutputSerializer(overview).data)

    @extend_schema(
        tags=["usage"],
        summary="Usage history",
        description=(
            "Daily or monthly points between `start_date` and `end_date` (default: the last 30 days; "
            "at most 366 days of daily or five years of monthly points at once). Every plan sees its "
            "own history, and every member of the organization may read it."
        ),
        parameters=[
            OpenApiParameter("start_date", str, description="YYYY-MM-DD"),
            OpenApiParameter("end_date", str, description="YYYY-MM-DD, inclusive"),
            OpenApiParameter("granularity", str, enum=["daily", "monthly"]),
        ],
        responses={200: s.HistoryPointSerializer(many=True)},
    )
    @action(detail=False)
    def history(self, request):
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        points = selectors.usage_history(organization_id=self.organization.pk, **query.validated_data)
        page = self.paginate_queryset(points)
        return self.get_paginated_response(s.HistoryPointSerializer(page, many=True).data)

    @extend_schema(
        tags=["usage"],
        summary="Your plan's monthly limits",
        responses={200: s.LimitsOutputSerializer},
    )
    @action(detail=False)
    def limits(self, request):
        return ok(s.LimitsOutputSerializer(selectors.usage_limits(organization_id=self.organization.pk)).data)
