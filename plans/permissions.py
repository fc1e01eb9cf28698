from rest_framework.permissions import BasePermission

from billing_project.errors import PermissionDenied

from .selectors import entitlement


class FeatureNotInPlan(PermissionDenied):
    code = "feature_not_in_plan"
    default_message = "Your plan does not include this feature."


def requires_feature(feature: str) -> type[BasePermission]:
    """A permission class that lets the request through only when the current
    organization's plan grants `feature` (a truthy value in the plan's features).

    Use on an OrgScopedAPIView: `permission_classes = [IsAuthenticated, requires_feature("x")]`.
    """

    class RequiresPlanFeature(BasePermission):
        required_feature = feature

        def has_permission(self, request, view) -> bool:
            organization = getattr(view, "organization", None)
            if organization is None:
                return False
            if not entitlement(organization_id=organization.pk, feature=feature):
                raise FeatureNotInPlan(f"Your plan does not include '{feature}'. Upgrade to use it.")
            return True

    RequiresPlanFeature.__name__ = f"RequiresPlanFeature_{feature}"
    return RequiresPlanFeature
