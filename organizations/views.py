from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated

from billing_project.api.responses import created, ok
from billing_project.api.schema import error_response, message_response
from billing_project.api.viewsets import ResourceViewSet

from . import serializers as s
from . import services
from .context import OrgScopedAPIView
from .models import MANAGER_ROLES, Invitation, Membership, Organization, Role
from .selectors import members_of, organizations_for_user, pending_invitations_of


class OrganizationViewSet(mixins.ListModelMixin, ResourceViewSet):
    # The caller's organizations; none is picked yet, so this one is not org-scoped.
    permission_classes = [IsAuthenticated]
    queryset = Organization.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.OrganizationSerializer

    def get_queryset(self):
        return organizations_for_user(user=self.request.user)

    @extend_schema(
        tags=["organizations"],
        summary="Your organizations",
        description="Every organization you belong to, with your `role` in it.",
        responses={200: s.OrganizationSerializer(many=True)},
    )
    def list(self, request):
        return super().list(request)

    @extend_schema(
        tags=["organizations"],
        summary="Create an organization",
        description="You become its owner. Without a slug one is made from the name.",
        request=s.OrganizationCreateInputSerializer,
        responses={201: s.OrganizationSerializer},
    )
    def create(self, request):
        data = s.OrganizationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(owner=request.user, **data.validated_data)
        organization.role = Role.OWNER
        return created(s.OrganizationSerializer(organization).data)


class OrgScopedViewSet(OrgScopedAPIView, ResourceViewSet):
    """Base for /orgs/{org_id}/...: the organization comes from the URL."""

    org_url_kwarg = "org_id"


class OrganizationDetailViewSet(OrgScopedViewSet):
    org_roles_by_method = {"PATCH": MANAGER_ROLES}

    def _render(self):
        self.organization.role = self.membership.role
        return ok(s.OrganizationSerializer(self.organization).data)

    @extend_schema(tags=["organizations"], summary="One organization", responses={200: s.OrganizationSerializer})
    def retrieve(self, request, org_id):
        return self._render()

    @extend_schema(
        tags=["organizations"],
        summary="Update an organization",
        description="Owners and admins only.",
        request=s.OrganizationUpdateInputSerializer,
        responses={200: s.OrganizationSerializer},
    )
    def partial_update(self, request, org_id):
        data = s.OrganizationUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.organization_update(organization=self.organization, **data.validated_data)
        return self._render()


class OrgInvitationViewSet(OrgScopedViewSet, mixins.ListModelMixin):
    org_roles = MANAGER_ROLES
    queryset = Invitation.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.InvitationSerializer

    def get_queryset(self):
        return pending_invitations_of(organization=self.organization)

    @extend_schema(
        tags=["organizations"], summary="Open invitations", responses={200: s.InvitationSerializer(many=True)}
    )
    def list(self, request, org_id):
        return super().list(request)

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
    def create(self, request, org_id):
        data = s.InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(actor=self.membership, **data.validated_data)
        return created(s.InvitationSerializer(invitation).data)

    @extend_schema(tags=["organizations"], summary="Revoke an invitation", responses={200: s.InvitationSerializer})
    def destroy(self, request, org_id, invitation_id):
        invitation = services.invitation_revoke(actor=self.membership, invitation_id=invitation_id)
        return ok(s.InvitationSerializer(invitation).data)


class OrgMemberViewSet(OrgScopedViewSet, mixins.ListModelMixin):
    # Any member may list them; who may change or remove whom is the services' rule.
    queryset = Membership.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.MemberSerializer

    def get_queryset(self):
        return members_of(organization=self.organization)

    @extend_schema(tags=["organizations"], summary="Members", responses={200: s.MemberSerializer(many=True)})
    def list(self, request, org_id):
        return super().list(request)

    @extend_schema(
        tags=["organizations"],
        summary="Change a member's role",
        description="Owners and admins; only an owner grants or removes the owner role; the last owner stays.",
        request=s.MemberRoleInputSerializer,
        responses={200: s.MemberSerializer, 409: error_response("The last owner cannot be demoted.")},
    )
    def partial_update(self, request, org_id, user_id):
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
    def destroy(self, request, org_id, user_id):
        services.membership_remove(actor=self.membership, user_id=user_id)
        return ok("Member removed")


class InvitationViewSet(ResourceViewSet):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["organizations"],
        summary="Accept an invitation",
        description="You must be signed in with the invited email address.",
        request=s.InvitationAcceptInputSerializer,
        responses={200: s.MembershipSerializer, 409: error_response("Already a member.")},
    )
    @action(detail=False, methods=["post"])
    def accept(self, request):
        data = s.InvitationAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.invitation_accept(token=data.validated_data["token"], user=request.user)
        return ok(s.MembershipSerializer(membership).data)
