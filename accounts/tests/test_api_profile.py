"""GET, PUT and PATCH /api/v1/profile (DELETE: billing/tests/test_account_delete.py)."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.tests.helpers import (
    PROFILE_URL,
    assert_error,
    snapshot,
)

pytestmark = pytest.mark.django_db


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
