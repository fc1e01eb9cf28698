from django.urls import path

from . import views

urlpatterns = [
    path("orgs", views.OrgListCreateView.as_view(), name="org-list"),
    path("orgs/<uuid:org_id>", views.OrgDetailView.as_view(), name="org-detail"),
    path("orgs/<uuid:org_id>/invite", views.OrgInviteView.as_view(), name="org-invite"),
    path("orgs/<uuid:org_id>/invitations", views.OrgInvitationListView.as_view(), name="org-invitations"),
    path(
        "orgs/<uuid:org_id>/invitations/<uuid:invitation_id>",
        views.OrgInvitationDetailView.as_view(),
        name="org-invitation-detail",
    ),
    path("orgs/<uuid:org_id>/members", views.OrgMemberListView.as_view(), name="org-members"),
    path("orgs/<uuid:org_id>/members/<uuid:user_id>", views.OrgMemberDetailView.as_view(), name="org-member-detail"),
    path("invitations/accept", views.InvitationAcceptView.as_view(), name="invitation-accept"),
]
