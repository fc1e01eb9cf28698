"""The organizations factories make what the services would: valid rows, an invitation
whose token (only hashed in the database) the invitee can accept."""

import pytest

from accounts.tests.factories import UserFactory
from organizations.models import Role
from organizations.services import invitation_accept
from organizations.tests.factories import InvitationFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_an_organization_is_valid_and_billed_in_usd():
    organization = OrganizationFactory()

    organization.full_clean()
    assert (organization.currency, organization.is_personal) == ("USD", False)


def test_a_user_owns_a_personal_organization():
    user = UserFactory()

    membership = user.memberships.get()
    assert (membership.role, membership.organization.is_personal) == (Role.OWNER, True)


def test_a_membership_joins_a_new_user_to_a_new_organization():
    membership = MembershipFactory()

    membership.full_clean()
    assert membership.role == Role.MEMBER
    assert membership.user.memberships.count() == 2  # and its personal organization


def test_an_invitation_is_open_sent_by_an_owner_and_accepted_with_its_token():
    invitation = InvitationFactory(role=Role.ADMIN)

    invitation.full_clean()
    assert invitation.status == "pending"
    assert invitation.token not in invitation.token_hash
    assert invitation.organization.memberships.get(user=invitation.invited_by).role == Role.OWNER
    invitee = UserFactory(email=invitation.email)
    membership = invitation_accept(token=invitation.token, user=invitee)
    assert (membership.organization, membership.role) == (invitation.organization, Role.ADMIN)
