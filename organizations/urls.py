from django.urls import path

from . import views

# Explicit routes to the viewsets' actions: the names (org-invite, org-invitations,
# org-members, ...) and the /invite path are API.md's, not a router's; the organizations
# you list and create are not org-scoped, the rest are, so they are separate viewsets.
urlpatterns = [
    path("orgs", views.OrganizationViewSet.as_view({"get": "list", "post": "create"}), name="org-list"),
    path(
        "orgs/<uuid:org_id>",
        views.OrganizationDetailViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="org-detail",
    ),
    path("orgs/<uuid:org_id>/invite", views.OrgInvitationViewSet.as_view({"post": "create"}), name="org-invite"),
    path("orgs/<uuid:org_id>/invitations", views.OrgInvitationViewSet.as_view({"get": "list"}), name="org-invitations"),
    path(
        "orgs/<uuid:org_id>/invitations/<uuid:invitation_id>",
        views.OrgInvitationViewSet.as_view({"delete": "destroy"}),
        name="org-invitation-detail",
    ),
    path("orgs/<uuid:org_id>/members", views.OrgMemberViewSet.as_view({"get": "list"}), name="org-members"),
    path(
        "orgs/<uuid:org_id>/members/<uuid:user_id>",
        views.OrgMemberViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        name="org-member-detail",
    ),
    path("invitations/accept", views.InvitationViewSet.as_view({"post": "accept"}), name="invitation-accept"),
]
