"""Assertions and request helpers shared by the apikeys tests."""

from __future__ import annotations

from rest_framework.test import APIClient

from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from billing_project.tests.world import service_client

KEYS_URL = "/api/v1/api-keys"
REPORT_URL = "/api/v1/usage/report"
QUOTA_CHECK_URL = "/api/v1/usage/quota-check"
ALL_SCOPES = ["usage:write", "usage:read", "credits:write"]


def key_url(key_id, suffix: str = "") -> str:
    return f"{KEYS_URL}/{key_id}{suffix}"


def org_header(org) -> dict:
    return {"HTTP_X_CURRENT_ORG": str(org.id)} if org is not None else {}


def create_key(client: APIClient, *, org=None, name: str = "Backend", scopes=None, **fields):
    """POST /api-keys (in `org` through X-Current-Org, else the personal organization)."""
    body = {"name": name, "scopes": ["usage:write", "usage:read"] if scopes is None else scopes, **fields}
    return client.post(KEYS_URL, body, format="json", **org_header(org))


def new_key(client: APIClient, **kwargs) -> dict:
    """Create a key that must succeed; returns the response data (with the secret `key`)."""
    return assert_ok(create_key(client, **kwargs), 201)


def report(secret: str):
    """The probe: report one `api_call` event with this key."""
    return service_client(secret).post(REPORT_URL, {"event_type": "api_call"}, format="json")
