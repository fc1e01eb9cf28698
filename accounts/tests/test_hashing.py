"""Passwords are stored with Argon2id at (at least) OWASP's recommended cost."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password

from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.tests.helpers import REGISTER_URL, login

pytestmark = [pytest.mark.django_db, pytest.mark.real_hashing]


def argon2_parameters(encoded: str) -> dict[str, int]:
    """`argon2$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` -> {"v": 19, "m": ..., "t": ..., "p": ...}"""
    algorithm, variant, version, params, salt, digest = encoded.split("$")
    assert (algorithm, variant) == ("argon2", "argon2id")
    assert salt and digest
    pairs = [version, *params.split(",")]
    return {key: int(value) for key, value in (pair.split("=") for pair in pairs)}


@pytest.fixture
def registered(api_client) -> User:
    response = api_client.post(
        REGISTER_URL, {"name": "Hash Test", "email": "hash@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    return User.objects.get(email="hash@example.com")


def test_password_is_hashed_with_argon2id(registered):
    assert registered.password.startswith("argon2$argon2id$")


def test_argon2_cost_meets_owasp_minimum(registered):
    params = argon2_parameters(registered.password)

    assert params["v"] == 19
    assert params["m"] >= 19456
    assert params["t"] >= 2
    assert params["p"] >= 1


def test_password_hash_verifies_with_django_check_password(registered):
    assert check_password(PASSWORD, registered.password)
    assert not check_password(PASSWORD + "x", registered.password)


def test_each_hash_has_its_own_salt(api_client, registered):
    api_client.post(
        REGISTER_URL, {"name": "Hash Two", "email": "hash2@example.com", "password": PASSWORD}, format="json"
    )
    other = User.objects.get(email="hash2@example.com")

    assert other.password != registered.password


def test_login_upgrades_a_legacy_pbkdf2_hash_to_argon2id(api_client, registered):
    hasher = PBKDF2PasswordHasher()
    registered.password = hasher.encode(PASSWORD, hasher.salt())
    registered.save(update_fields=["password"])

    assert login(api_client, registered.email).status_code == 200

    registered.refresh_from_db()
    assert registered.password.startswith("argon2$argon2id$")
