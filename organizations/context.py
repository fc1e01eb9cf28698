"""The current organization of a request: one mechanism for every org-scoped view.

`X-Current-Org: <org id>` picks the organization; without it, the caller's personal
organization. An organization the caller does not belong to, or that does not exist,
is a 404 either way, so ids of other customers cannot be probed.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter
from rest_framework.views import APIView

from billing_project.errors import NotFound, PermissionDenied

from .models import Membership

HEADER = "HTTP_X_CURRENT_ORG"

CURRENT_ORG_PARAMETER = OpenApiParameter(
    name="X-Current-Org",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Organization id to act on. Defaults to your personal organization.",
)


def membership_for(*, user, org_id=None) -> Membership:
    """The caller's membership in `org_id` (or their personal organization)."""
    queryset = Membership.objects.select_related("organization", "user").filter(user=user)
    if org_id is not None:
        try:
            org_uuid = uuid.UUID(str(org_id))
        except ValueError:
            raise NotFound("Organization not found.") from None
        membership = queryset.filter(organization_id=org_uuid).first()
    else:
        membership = queryset.order_by("-organization__is_personal", "created_at").first()
    if membership is None:
        raise NotFound("Organization not found.")
    return membership


class OrgScopedAPIView(APIView):
    """Base view for everything that acts on one organization.

    Before the permission classes run it sets `self.membership` and `self.organization`. The
    organization comes from the URL kwarg `org_url_kwarg` when the view has one, else
    from the X-Current-Org header. `org_roles` (per view, or per method through
    `org_roles_by_method`) limits who may call it: another role is a 403.
    """

    org_url_kwarg: str | None = None
    org_roles: frozenset | None = None
    org_roles_by_method: dict[str, frozenset] = {}

    membership: Membership
    organization = None

    @property
    def current_org_header_parameter(self):
        """Documents X-Current-Org in the OpenAPI schema where it applies."""
        return None if self.org_url_kwarg else CURRENT_ORG_PARAMETER

    def check_permissions(self, request):
        """Resolve the organization before the permission classes run, so they (and
        everything after) can use `self.organization`."""
        if not (request.user and request.user.is_authenticated):
            self.permission_denied(request)
        if self.org_url_kwarg and self.org_url_kwarg in self.kwargs:
            org_id = self.kwargs[self.org_url_kwarg]
        else:
            org_id = request.META.get(HEADER) or None
        self.membership = membership_for(user=request.user, org_id=org_id)
        self.organization = self.membership.organization
        roles = self.org_roles_by_method.get(request.method, self.org_roles)
        if roles is not None and self.membership.role not in roles:
            raise PermissionDenied(f"Your role ({self.membership.role}) does not allow this action.")
        super().check_permissions(request)
