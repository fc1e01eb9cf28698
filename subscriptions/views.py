from drf_spectacular.utils import extend_schema

from billing_project.api.responses import ok
from billing_project.api.schema import NULLABLE_DATA_EXTENSION
from billing_project.api.viewsets import ResourceViewSet
from organizations.context import OrgScopedAPIView

from .selectors import live_subscription
from .serializers import SubscriptionSerializer


# Its changes (cancel, reactivate, change plan, payment method) move money: they are
# billing's (billing.views.payments.SubscriptionActionViewSet).
class SubscriptionViewSet(OrgScopedAPIView, ResourceViewSet):
    @extend_schema(
        tags=["subscriptions"],
        summary="The current subscription",
        description="The organization's live subscription, or `null` (then it is on the free default plan).",
        responses={200: SubscriptionSerializer},
        extensions=NULLABLE_DATA_EXTENSION,
    )
    def retrieve(self, request):
        subscription = live_subscription(organization_id=self.organization.pk)
        return ok(SubscriptionSerializer(subscription).data if subscription else None)
