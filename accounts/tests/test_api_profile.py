"""GET, PUT, PATCH and DELETE /api/v1/profile."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory
from accounts.tests.helpers import PROFILE_URL, REGISTER_URL, assert_error, bearer, login, login_pair, refresh
from organizations.models import Membership, Organization, Role

pytestmark = pytest.mark.django_db


def snapshot(user: User) -> dict:
    user = User.objects.get(pk=user.pk)
    return {
        field: getattr(user, field)
        for field in (
            "email",
            "name",
            "company",
            "password",
            "is_active",
            "is_staff",
            "is_superuser",
            "created_at",
            "deleted_at",
        )
    }


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


# --- read and update -------------------------------------------------------------------


def test_get_profile_returns_the_signed_in_user(auth_client, user):
    response = auth_client.get(PROFILE_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert set(body["data"]) == {"id", "name", "email", "company", "created_at"}
    assert body["data"]["id"] == str(user.id)
    assert body["data"]["email"] == user.email
    assert body["data"]["name"] == user.name


def test_put_profile_changes_name_and_company(auth_client, user):
    response = auth_client.put(PROFILE_URL, {"name": "New Name", "company": "New Co"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["data"]["name"] == "New Name"
    assert response.json()["data"]["company"] == "New Co"
    user.refresh_from_db()
    assert (user.name, user.company) == ("New Name", "New Co")


def test_patch_profile_changes_only_the_fields_given(auth_client, user):
    User.objects.filter(pk=user.pk).update(company="Old Co")

    response = auth_client.patch(PROFILE_URL, {"name": "Patched"}, format="json")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.name, user.company) == ("Patched", "Old Co")


def test_patch_profile_changes_company(auth_client, user):
    response = auth_client.patch(PROFILE_URL, {"company": "Acme"}, format="json")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.company == "Acme"


def test_put_profile_without_name_is_400(auth_client, user):
    before = snapshot(user)

    response = auth_client.put(PROFILE_URL, {"company": "Acme"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "name" in error["details"]
    assert snapshot(user) == before


def test_patch_profile_with_a_blank_name_is_400(auth_client, user):
    error = assert_error(auth_client.patch(PROFILE_URL, {"name": ""}, format="json"), 400, "validation_error")

    assert "name" in error["details"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_profile_update_ignores_protected_fields(auth_client, user, method):
    before = snapshot(user)
    body = {
        "name": "Only This",
        "email": "attacker@example.com",
        "is_staff": True,
        "is_superuser": True,
        "is_active": False,
        "id": str(uuid.uuid4()),
        "created_at": "2000-01-01T00:00:00Z",
        "password": "Hijacked-pw-1",
    }

    response = getattr(auth_client, method)(PROFILE_URL, body, format="json")

    assert response.status_code == 200, response.content
    after = snapshot(user)
    assert after["name"] == "Only This"
    assert {k: v for k, v in after.items() if k != "name"} == {k: v for k, v in before.items() if k != "name"}
    assert User.objects.filter(pk=user.pk).exists()
    assert not User.objects.filter(email="attacker@example.com").exists()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_profile_without_auth_is_401(api_client, user, method):
    response = getattr(api_client, method)(PROFILE_URL, {"name": "x", "password": PASSWORD}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert User.objects.get(pk=user.pk).is_active


# --- delete ----------------------------------------------------------------------------


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
