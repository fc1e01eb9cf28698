"""Sign-up, sign-in and password reset while the cache's Redis cannot be reached: the
public auth endpoints answer as usual, and their throttles keep counting (in each
process's memory) instead of failing open."""

from __future__ import annotations

import random
import uuid

import pytest
from django.core import mail
from rest_framework.throttling import ScopedRateThrottle

from accounts.tests.factories import PASSWORD
from accounts.tests.helpers import FORGOT_URL, LOGIN_URL, PROFILE_URL, REGISTER_URL, assert_error, bearer, login
from billing_project.tests.redis_tools import free_port, project_cache_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings):
    """The cache the project configures for a REDIS_URL where nothing listens."""
    settings.CACHES = project_cache_settings(f"redis://127.0.0.1:{free_port()}/0")


def test_login_answers_200_while_redis_is_down(api_client, user, redis_down):
    response = login(api_client, user.email)

    assert response.status_code == 200, response.content
    token = response.json()["data"]["token"]
    assert bearer(api_client, token).get(PROFILE_URL).status_code == 200


def test_a_wrong_password_is_still_401_while_redis_is_down(api_client, user, redis_down):
    assert_error(login(api_client, user.email, "Wrong-password-1"), 401, "authentication_failed")


def test_register_answers_201_while_redis_is_down(api_client, redis_down):
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"

    response = api_client.post(REGISTER_URL, {"email": email, "password": PASSWORD, "name": "New"}, format="json")

    assert response.status_code == 201, response.content
    assert login(api_client, email).status_code == 200


def test_forgot_password_answers_200_and_sends_the_email_while_redis_is_down(
    api_client, user, redis_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(FORGOT_URL, {"email": user.email}, format="json")

    assert response.status_code == 200, response.content
    assert [message.to for message in mail.outbox] == [[user.email]]


def test_the_login_limiter_still_refuses_after_the_limit_while_redis_is_down(api_client, user, settings, redis_down):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert_error(login(api_client, user.email, "Wrong-password-1"), 401, "authentication_failed")

    response = login(api_client, user.email)

    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_a_successful_login_still_resets_the_failure_count_while_redis_is_down(api_client, user, settings, redis_down):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        login(api_client, user.email, "Wrong-password-1")
    assert login(api_client, user.email).status_code == 200
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        login(api_client, user.email, "Wrong-password-1")

    assert login(api_client, user.email).status_code == 200


def test_the_public_auth_throttle_still_limits_while_redis_is_down(api_client, monkeypatch, redis_down):
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "anon_auth", "3/min")
    address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    for _ in range(3):
        assert login(api_client, "nobody@example.com", REMOTE_ADDR=address).status_code == 401

    response = api_client.post(
        LOGIN_URL, {"email": "x@example.com", "password": "x"}, format="json", REMOTE_ADDR=address
    )

    assert_error(response, 429, "rate_limited")
