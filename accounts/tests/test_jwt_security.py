"""Access tokens: claims, signature, algorithm, audience, issuer, type, expiry, user state."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.helpers import PROFILE_URL, assert_error, bearer, login_pair

pytestmark = pytest.mark.django_db


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def profile_with(token: str):
    return bearer(APIClient(), token).get(PROFILE_URL)


@pytest.fixture
def access_token(user) -> str:
    return token_pair_for(user).token


def test_access_token_carries_audience_and_issuer(access_token):
    payload = claims(access_token)

    assert payload["aud"] == settings.JWT_AUDIENCE
    assert payload["iss"] == settings.JWT_ISSUER
    assert payload["token_type"] == "access"


def test_access_token_lives_at_most_fifteen_minutes(access_token):
    payload = claims(access_token)

    assert 0 < payload["exp"] - payload["iat"] <= 900


def test_login_expires_at_is_the_access_token_expiry(api_client, user):
    data = login_pair(api_client, user.email)

    expires_at = datetime.strptime(data["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert int(expires_at.timestamp()) == claims(data["token"])["exp"]


def test_access_token_is_signed_with_the_jwt_signing_key(access_token):
    header = jwt.get_unverified_header(access_token)

    assert header["alg"] == "HS256"
    jwt.decode(access_token, settings.JWT_SIGNING_KEY, algorithms=["HS256"], audience=settings.JWT_AUDIENCE)


def test_a_token_re_signed_with_the_jwt_signing_key_is_accepted(access_token):
    """The control for the forgeries below: re-signing by itself breaks nothing."""
    forged = jwt.encode(claims(access_token), settings.JWT_SIGNING_KEY, algorithm="HS256")

    assert profile_with(forged).status_code == 200


def test_a_token_signed_with_the_django_secret_key_is_401(access_token):
    forged = jwt.encode(claims(access_token), settings.SECRET_KEY, algorithm="HS256")

    assert_error(profile_with(forged), 401, "authentication_failed")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_alg_none_token_is_401(access_token, alg):
    forged = f"{b64url({'alg': alg, 'typ': 'JWT'})}.{b64url(claims(access_token))}."

    assert_error(profile_with(forged), 401, "authentication_failed")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_signed_with_another_algorithm_is_401(access_token):
    forged = jwt.encode(claims(access_token), settings.JWT_SIGNING_KEY, algorithm="HS512")

    assert_error(profile_with(forged), 401, "authentication_failed")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"aud": "another-api"}, id="wrong-audience"),
        pytest.param({"iss": "someone-else"}, id="wrong-issuer"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"iss": None}, id="no-issuer"),
    ],
)
def test_a_token_for_another_audience_or_issuer_is_401(access_token, change):
    payload = claims(access_token)
    for key, value in change.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    forged = jwt.encode(payload, settings.JWT_SIGNING_KEY, algorithm="HS256")

    assert_error(profile_with(forged), 401, "authentication_failed")


def test_a_refresh_token_is_not_an_access_token(user):
    refresh_token = token_pair_for(user).refresh_token

    assert_error(profile_with(refresh_token), 401, "authentication_failed")


def test_an_access_token_still_works_before_it_expires(access_token):
    with time_machine.travel(timezone.now() + timedelta(minutes=14)):
        response = profile_with(access_token)

    assert response.status_code == 200


def test_an_expired_access_token_is_401(access_token):
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = profile_with(access_token)

    assert_error(response, 401, "authentication_failed")


def test_a_token_of_a_deactivated_user_is_401(user, access_token):
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert_error(profile_with(access_token), 401, "authentication_failed")


def test_a_token_of_a_deleted_user_row_is_401(user, access_token):
    user.delete()

    assert_error(profile_with(access_token), 401, "authentication_failed")


def test_a_token_after_a_password_change_is_401(user, access_token):
    user.set_password("Changed-pw-99")
    user.save(update_fields=["password"])

    assert_error(profile_with(access_token), 401, "authentication_failed")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer garbage", "authentication_failed"),
        ("Bearer a.b.c", "authentication_failed"),
        ("Bearer one two", "authentication_failed"),
        ("Token abc", "not_authenticated"),
        ("Basic dXNlcjpwYXNz", "not_authenticated"),
    ],
)
def test_malformed_authorization_headers_are_401_envelopes(header, code):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert_error(client.get(PROFILE_URL), 401, code)


def test_no_authorization_header_is_401_not_authenticated():
    assert_error(APIClient().get(PROFILE_URL), 401, "not_authenticated")


def test_auth_errors_leak_no_token_internals(access_token):
    forged = jwt.encode(claims(access_token), settings.SECRET_KEY, algorithm="HS256")

    error = assert_error(profile_with(forged), 401, "authentication_failed")

    assert "details" not in error
    assert settings.SECRET_KEY not in json.dumps(error)
