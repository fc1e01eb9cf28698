"""Account deletion: DELETE /api/v1/profile (billing.accounts.account_delete)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from accounts.tests.helpers import (
    PROFILE_URL,
    REGISTER_URL,
    assert_error,
    bearer,
    login,
    login_pair,
    refresh,
    snapshot,
)
from organizations.models import Membership, Organization, Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def memberships_of(user: User) -> set[tuple]:
    return set(Membership.objects.filter(user=user).values_list("organization_id", "role"))


def delete_account(client, password: str = PASSWORD):
    return client.delete(PROFILE_URL, {"password": password}, format="json")


@pytest.fixture
def shared_org(user):
    """An organization `user` owns alone, with one more (plain) member."""
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=user, role=Role.OWNER)
    MembershipFactory(organization=organization, role=Role.MEMBER)
    return organization


def test_delete_with_a_wrong_password_is_400_and_changes_nothing(auth_client, user):
    before, memberships = snapshot(user), memberships_of(user)

    error = assert_error(delete_account(auth_client, "Wrong-password-1"), 400, "validation_error")

    assert "password" in error["details"]
    assert snapshot(user) == before
    assert memberships_of(user) == memberships


def test_delete_without_a_password_is_400(auth_client, user):
    response = auth_client.delete(PROFILE_URL, {}, format="json")

    assert_error(response, 400, "validation_error")
    assert User.objects.get(pk=user.pk).is_active


def test_delete_deactivates_and_anonymizes_the_account(auth_client, user):
    old_email = user.email
    User.objects.filter(pk=user.pk).update(company="Acme")

    response = delete_account(auth_client)

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert not user.is_active
    assert user.deleted_at is not None
    assert user.email != old_email
    assert not User.objects.filter(email__iexact=old_email).exists()
    assert user.name == ""
    assert user.company == ""
    assert not user.has_usable_password()


def test_deleted_account_cannot_log_in(api_client, auth_client, user):
    delete_account(auth_client)

    assert_error(login(api_client, user.email), 401, "authentication_failed")


def test_delete_revokes_refresh_tokens(api_client, auth_client, user):
    pair = login_pair(api_client, user.email)

    assert delete_account(auth_client).status_code == 200

    assert refresh(api_client, pair["refresh_token"]).status_code == 401


def test_delete_revokes_access_tokens(auth_client, user):
    assert delete_account(auth_client).status_code == 200

    assert_error(auth_client.get(PROFILE_URL), 401, "authentication_failed")


def test_delete_keeps_the_personal_organization(auth_client, user):
    personal = Organization.objects.get(memberships__user=user, is_personal=True)

    delete_account(auth_client)

    assert Organization.objects.filter(pk=personal.pk).exists()
    assert Membership.objects.filter(organization=personal, user=user, role=Role.OWNER).exists()


def test_deleted_accounts_email_can_register_again(api_client, auth_client, user):
    delete_account(auth_client)

    response = api_client.post(
        REGISTER_URL, {"name": "Back Again", "email": user.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201, response.content


def test_delete_by_the_last_owner_of_a_shared_org_is_409_and_changes_nothing(auth_client, user, shared_org):
    before, memberships = snapshot(user), memberships_of(user)

    assert_error(delete_account(auth_client), 409, "conflict")

    assert snapshot(user) == before
    assert memberships_of(user) == memberships
    assert shared_org.memberships.count() == 2
    assert auth_client.get(PROFILE_URL).status_code == 200


def test_delete_by_a_non_last_owner_leaves_the_shared_org(auth_client, user, shared_org):
    co_owner = UserFactory()
    MembershipFactory(organization=shared_org, user=co_owner, role=Role.OWNER)

    assert delete_account(auth_client).status_code == 200

    assert not Membership.objects.filter(organization=shared_org, user=user).exists()
    assert Membership.objects.filter(organization=shared_org, user=co_owner, role=Role.OWNER).exists()
    assert shared_org.memberships.count() == 2


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.MEMBER])
def test_delete_by_a_plain_member_leaves_the_shared_org(auth_client, user, role):
    organization = OrganizationFactory()
    owner = UserFactory()
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    MembershipFactory(organization=organization, user=user, role=role)

    assert delete_account(auth_client).status_code == 200

    assert list(organization.memberships.values_list("user_id", flat=True)) == [owner.pk]


def test_delete_of_one_user_leaves_other_users_alone(auth_client, user):
    other = UserFactory()
    before = snapshot(other)
    other_pair = login_pair(APIClient(), other.email)

    delete_account(auth_client)

    assert snapshot(other) == before
    assert bearer(APIClient(), other_pair["token"]).get(PROFILE_URL).status_code == 200


def test_delete_erases_personal_data_from_the_personal_organization(auth_client):
    user = auth_client.user
    organization = Organization.objects.get(memberships__user=user, is_personal=True)
    organization.billing_email = user.email
    organization.save()
    response = auth_client.delete("/api/v1/profile", {"password": PASSWORD}, format="json")
    assert response.status_code == 200
    organization.refresh_from_db()
    assert organization.billing_email == ""
    assert organization.name == "Deleted account"
