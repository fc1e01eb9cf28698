from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from billing_project.api.pagination import EnvelopeLimitOffsetPagination, paginated_response
from billing_project.api.responses import created, ok
from billing_project.api.schema import error_response, message_response

from . import serializers as s
from . import services
from .context import OrgScopedAPIView
from .models import MANAGER_ROLES, Role
from .selectors import members_of, organizations_for_user, pending_invitations_of


class OrgListCreateView(APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = EnvelopeLimitOffsetPagination

    @extend_schema(
        tags=["organizations"],
        summary="Your organizations",
        description="Every organization you belong to, with your `role` in it.",
        responses={200: s.OrganizationSerializer(many=True)},
    )
    def get(self, request):
        return paginated_response(
            request=request,
            view=self,
            queryset=organizations_for_user(user=request.user),
            serializer_class=s.OrganizationSerializer,
        )

    @extend_schema(
        tags=["organizations"],
        summary="Create an organization",
        description="You become its owner. Without a slug one is made from the name.",
        request=s.OrganizationCreateInputSerializer,
        responses={201: s.OrganizationSerializer},
    )
    def post(self, request):
        data = s.OrganizationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(owner=request.user, **data.validated_data)
        organization.role = Role.OWNER
        return created(s.OrganizationSerializer(organization).data)


class OrgView(OrgScopedAPIView):
    """Base for /orgs/{org_id}/...: the organization comes from the URL."""

    org_url_kwarg = "org_id"


class OrgDetailView(OrgView):
    org_roles_by_method = {"PATCH": MANAGER_ROLES}

    def _render(self):
        self.organization.role = self.membership.role
        return ok(s.OrganizationSerializer(self.organization).data)

    @extend_schema(tags=["organizations"], summary="One organization", responses={200: s.OrganizationSerializer})
    def get(self, request, org_id):
        return self._render()

    @extend_schema(
        tags=["organizations"],
        summary="Update an organization",
        description="Owners and admins only.",
        request=s.OrganizationUpdateInputSerializer,
        responses={200: s.OrganizationSerializer},
    )
    def patch(self, request, org_id):
        data = s.OrganizationUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.organization_update(organization=self.organization, **data.validated_data)
        return self._render()


class OrgInviteView(OrgView):
    org_roles = MANAGER_ROLES

    @extend_schema(
        tags=["organizations"],
        summary="Invite someone",
        description=(
            "Owners and admins only; only an owner may invite an owner. The invitation link is "
            "emailed; re-inviting an address replaces its open invitation."
        ),
        request=s.InvitationInputSerializer,
        responses={201: s.InvitationSerializer, 409: error_response("Already a member.")},
    )
    def post(self, request, org_id):
        data = s.InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(actor=self.membership, **data.validated_data)
        return created(s.InvitationSerializer(invitation).data)


class OrgInvitationListView(OrgView):
    org_roles = MANAGER_ROLES
    pagination_class = EnvelopeLimitOffsetPagination

    @extend_schema(
        tags=["organizations"], summary="Open invitations", responses={200: s.InvitationSerializer(many=True)}
    )
    def get(self, request, org_id):
        return paginated_response(
            request=request,
            view=self,
            queryset=pending_invitations_of(organization=self.organization),
            serializer_class=s.InvitationSerializer,
        )


class OrgInvitationDetailView(OrgView):
    org_roles = MANAGER_ROLES

    @extend_schema(tags=["organizations"], summary="Revoke an invitation", responses={200: s.InvitationSerializer})
    def delete(self, request, org_id, invitation_id):
        invitation = services.invitation_revoke(actor=self.membership, invitation_id=invitation_id)
        return ok(s.InvitationSerializer(invitation).data)


class OrgMemberListView(OrgView):
    pagination_class = EnvelopeLimitOffsetPagination

    @extend_schema(tags=["organizations"], summary="Members", responses={200: s.MemberSerializer(many=True)})
    def get(self, request, org_id):
        return paginated_response(
            request=request,
            view=self,
            queryset=members_of(organization=self.organization),
            serializer_class=s.MemberSerializer,
        )


class OrgMemberDetailView(OrgView):
    @extend_schema(
        tags=["organizations"],
        summary="Change a member's role",
        description="Owners and admins; only an owner grants or removes the owner role; the last owner stays.",
        request=s.MemberRoleInputSerializer,
        responses={200: s.MemberSerializer, 409: error_response("The last owner cannot be demoted.")},
    )
    def patch(self, request, org_id, user_id):
        data = s.MemberRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            actor=self.membership, user_id=user_id, role=data.validated_data["role"]
        )
        return ok(s.MemberSerializer(membership).data)

    @extend_schema(
        tags=["organizations"],
        summary="Remove a member, or leave",
        description="Owners and admins remove members; anyone may remove themselves. The last owner cannot leave.",
        responses={200: message_response("Removed."), 409: error_response("The last owner cannot leave.")},
    )
    def delete(self, request, org_id, user_id):
        services.membership_remove(actor=self.membership, user_id=user_id)
        return ok("Member removed")


class InvitationAcceptView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["organizations"],
        summary="Accept an invitation",
        description="You must be signed in with the invited email address.",
        request=s.InvitationAcceptInputSerializer,
        responses={200: s.MembershipSerializer, 409: error_response("Already a member.")},
    )
    def post(self, request):
        data = s.InvitationAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.invitation_accept(token=data.validated_data["token"], user=request.user)
        return ok(s.MembershipSerializer(membership).data)
