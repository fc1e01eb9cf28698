"""The current organization of a request: organizations.context."""

import uuid

import pytest
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.tests.factories import UserFactory
from billing_project.errors import NotFound
from organizations.context import OrgScopedAPIView, membership_for
from organizations.models import MANAGER_ROLES, Membership, Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def personal_membership(user) -> Membership:
    return Membership.objects.get(user=user, organization__is_personal=True)


# --- membership_for ------------------------------------------------------------------


def test_without_an_org_id_it_is_the_personal_org(user):
    # joined earlier than the personal org was made: the personal org still wins
    MembershipFactory(user=user, role=Role.ADMIN, created_at=personal_membership(user).created_at.replace(year=2000))

    membership = membership_for(user=user)

    assert membership == personal_membership(user)
    assert membership.organization.is_personal is True
    assert membership.role == Role.OWNER


def test_without_an_org_id_and_no_personal_org_it_is_the_first_joined():
    user = UserFactory(personal_org=False)
    first = MembershipFactory(user=user, role=Role.BILLING)
    MembershipFactory(user=user, role=Role.ADMIN)

    assert membership_for(user=user) == first


def test_without_any_membership_it_is_not_found():
    user = UserFactory(personal_org=False)
    with pytest.raises(NotFound):
        membership_for(user=user)


@pytest.mark.parametrize("as_type", [str, uuid.UUID])
def test_a_members_org_id_gives_that_membership(user, as_type):
    joined = MembershipFactory(user=user, role=Role.BILLING)

    membership = membership_for(user=user, org_id=as_type(str(joined.organization_id)))

    assert membership == joined
    assert membership.organization == joined.organization
    assert membership.role == Role.BILLING


def test_an_uppercase_org_id_gives_that_membership(user):
    joined = MembershipFactory(user=user)
    assert membership_for(user=user, org_id=str(joined.organization_id).upper()) == joined


def test_a_foreign_org_id_is_not_found(user):
    foreign = UserFactory()
    with pytest.raises(NotFound):
        membership_for(user=user, org_id=personal_membership(foreign).organization_id)


def test_an_org_without_the_user_is_not_found_even_with_other_members(user):
    org = OrganizationFactory()
    MembershipFactory(organization=org, role=Role.OWNER)
    with pytest.raises(NotFound):
        membership_for(user=user, org_id=org.id)


def test_an_unknown_org_id_is_not_found(user):
    with pytest.raises(NotFound):
        membership_for(user=user, org_id=uuid.uuid4())


@pytest.mark.parametrize("org_id", ["not-a-uuid", "1234", "' OR 1=1 --", 42, "   "])
def test_a_malformed_org_id_is_not_found(user, org_id):
    with pytest.raises(NotFound):
        membership_for(user=user, org_id=org_id)


# --- OrgScopedAPIView with the X-Current-Org header (a view used only here) -----------


class CurrentOrgView(OrgScopedAPIView):
    org_roles_by_method = {"POST": MANAGER_ROLES}

    def get(self, request):
        return Response({"organization_id": str(self.organization.id), "role": self.membership.role})

    def post(self, request):
        return Response({"organization_id": str(self.organization.id)})


def call(user, method="get", org_header=None):
    factory = APIRequestFactory()
    headers = {"HTTP_X_CURRENT_ORG": org_header} if org_header is not None else {}
    request = getattr(factory, method)("/test-only", **headers)
    if user is not None:
        force_authenticate(request, user=user)
    return CurrentOrgView.as_view()(request)


def test_view_without_header_acts_on_the_personal_org(user):
    MembershipFactory(user=user, role=Role.MEMBER)
    response = call(user)
    assert response.status_code == 200
    assert response.data == {"organization_id": str(personal_membership(user).organization_id), "role": "owner"}


def test_view_with_header_acts_on_that_org(user):
    joined = MembershipFactory(user=user, role=Role.BILLING)
    response = call(user, org_header=str(joined.organization_id))
    assert response.status_code == 200
    assert response.data == {"organization_id": str(joined.organization_id), "role": "billing"}


def test_view_with_an_empty_header_acts_on_the_personal_org(user):
    response = call(user, org_header="")
    assert response.data["organization_id"] == str(personal_membership(user).organization_id)


@pytest.mark.parametrize("header", ["foreign", "unknown", "malformed"])
def test_view_with_a_header_of_no_org_of_the_caller_is_404(user, header):
    org_header = {
        "foreign": str(OrganizationFactory().id),
        "unknown": str(uuid.uuid4()),
        "malformed": "not-a-uuid",
    }[header]

    response = call(user, org_header=org_header)

    assert response.status_code == 404
    assert response.data["success"] is False
    assert response.data["error"]["code"] == "not_found"


def test_view_role_limit_refuses_other_roles_with_403(user):
    joined = MembershipFactory(user=user, role=Role.MEMBER)
    response = call(user, method="post", org_header=str(joined.organization_id))
    assert response.status_code == 403
    assert response.data["error"]["code"] == "permission_denied"


def test_view_role_limit_admits_listed_roles(user):
    joined = MembershipFactory(user=user, role=Role.ADMIN)
    response = call(user, method="post", org_header=str(joined.organization_id))
    assert response.status_code == 200


def test_view_without_authentication_is_401():
    response = call(None)
    assert response.status_code == 401
    assert response.data["error"]["code"] == "not_authenticated"
