"""URLs and small helpers shared by the accounts tests (and billing's account tests)."""

from __future__ import annotations

import re

from django.core import mail

from accounts.models import User
from accounts.tests.factories import PASSWORD

REGISTER_URL = "/api/v1/auth/register"
LOGIN_URL = "/api/v1/auth/login"
REFRESH_URL = "/api/v1/auth/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
FORGOT_URL = "/api/v1/auth/forgot-password"
RESET_URL = "/api/v1/auth/reset-password"
PROFILE_URL = "/api/v1/profile"

# `<urlsafe-base64 user id>.<timestamp base36>-<hmac hex>`, as the reset email carries it.
RESET_TOKEN_RE = re.compile(r"token=([A-Za-z0-9_-]+\.[0-9a-z]+-[0-9a-f]+)")


def assert_error(response, status: int, code: str) -> dict:
    """The response is the API.md error envelope with this status and code; returns `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"success", "error"}, body
    assert body["success"] is False
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def login(client, email: str, password: str = PASSWORD, **extra):
    return client.post(LOGIN_URL, {"email": email, "password": password}, format="json", **extra)


def login_pair(client, email: str, password: str = PASSWORD) -> dict:
    """Sign in and return the token pair (`data`)."""
    response = login(client, email, password)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def refresh(client, refresh_token: str):
    return client.post(REFRESH_URL, {"refresh_token": refresh_token}, format="json")


def bearer(client, token: str):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def snapshot(user: User) -> dict:
    """The fields of `user` a profile change or an account deletion may touch, as stored."""
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


def reset_token_from_last_email() -> str:
    match = RESET_TOKEN_RE.search(mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)
