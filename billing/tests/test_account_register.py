"""Registration: POST /api/v1/auth/register (billing.accounts.account_register)."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.tests.helpers import REGISTER_URL, assert_error, login
from organizations.models import Membership, Organization, Role

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"name": "Alice Example", "email": f"alice-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
    body.update(overrides)
    return client.post(REGISTER_URL, body, format="json")


def test_register_returns_201_with_user_and_organization(api_client):
    response = register(api_client, email="alice@example.com")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"id", "email", "name", "created_at", "organization"}
    assert set(data["organization"]) == {"id", "name", "slug"}
    user = User.objects.get(email="alice@example.com")
    assert data["id"] == str(user.id)
    assert data["email"] == "alice@example.com"
    assert data["name"] == "Alice Example"
    assert data["created_at"].endswith("Z")


def test_register_creates_a_personal_organization_owned_by_the_user(api_client):
    data = register(api_client).json()["data"]

    organization = Organization.objects.get(pk=data["organization"]["id"])
    assert organization.is_personal
    assert organization.slug == data["organization"]["slug"]
    membership = Membership.objects.get(organization=organization)
    assert str(membership.user_id) == data["id"]
    assert membership.role == Role.OWNER


def test_register_lower_cases_the_email(api_client):
    response = register(api_client, email="  Alice.Mixed@Example.COM ")

    assert response.status_code == 201, response.content
    assert response.json()["data"]["email"] == "alice.mixed@example.com"
    assert User.objects.filter(email="alice.mixed@example.com").exists()


def test_register_with_a_taken_email_is_400_on_the_email_field(api_client, user):
    count = User.objects.count()

    response = register(api_client, email=user.email)

    error = assert_error(response, 400, "validation_error")
    assert "email" in error["details"]
    assert User.objects.count() == count


def test_register_with_a_taken_email_in_other_case_is_400(api_client, user):
    response = register(api_client, email=user.email.upper())

    error = assert_error(response, 400, "validation_error")
    assert "email" in error["details"]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("Ab1-xyz", id="shorter-than-8"),
        pytest.param("no-digits-at-all", id="no-digit"),
        pytest.param("8675309142", id="no-letter"),
        pytest.param("password1", id="common"),
    ],
)
def test_register_with_a_weak_password_is_400_and_stores_nothing(api_client, password):
    users, organizations = User.objects.count(), Organization.objects.count()

    response = register(api_client, password=password)

    error = assert_error(response, 400, "validation_error")
    assert error["details"]["password"]
    assert User.objects.count() == users
    assert Organization.objects.count() == organizations


def test_register_with_a_password_like_the_email_is_400(api_client):
    response = register(api_client, email="zebracrossing77@example.com", password="zebracrossing77")

    error = assert_error(response, 400, "validation_error")
    assert error["details"]["password"]


def test_register_without_fields_is_400_with_each_missing_field(api_client):
    response = api_client.post(REGISTER_URL, {}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert {"name", "email", "password"} <= set(error["details"])
    assert not User.objects.exists()


def test_register_with_an_invalid_email_is_400(api_client):
    error = assert_error(register(api_client, email="not-an-email"), 400, "validation_error")

    assert "email" in error["details"]


def test_register_ignores_privilege_and_id_fields(api_client):
    chosen_id = str(uuid.uuid4())

    response = register(api_client, is_staff=True, is_superuser=True, id=chosen_id, is_active=False)

    assert response.status_code == 201, response.content
    user = User.objects.get(email=response.json()["data"]["email"])
    assert not user.is_staff
    assert not user.is_superuser
    assert user.is_active
    assert str(user.id) != chosen_id


def test_registered_user_can_log_in(api_client):
    email = register(api_client).json()["data"]["email"]

    assert login(api_client, email).status_code == 200
