"""Every /api/ response, success or error, is the envelope of API.md."""

import random
from unittest import mock

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

pytestmark = pytest.mark.django_db


def test_success_is_wrapped_in_data(auth_client):
    body = auth_client.get("/api/v1/profile").json()
    assert body["success"] is True
    assert body["data"]["email"] == auth_client.user.email


def test_unknown_api_url_is_a_json_404(api_client):
    response = api_client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": {"code": "not_found", "message": "Not found."}}


def test_unknown_api_url_is_a_json_404_with_debug_on(api_client, settings):
    settings.DEBUG = True
    response = api_client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_method_not_allowed(api_client):
    response = api_client.delete("/api/v1/auth/login")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_crash_is_a_500_envelope_without_internals(auth_client):
    client = auth_client
    client.raise_request_exception = False
    with mock.patch("accounts.services.user_update_profile", side_effect=RuntimeError("SELECT secret FROM internals")):
        response = client.patch("/api/v1/profile", {"name": "x"}, format="json")
    assert response.status_code == 500
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "server_error"
    assert "SELECT" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_crash_with_debug_on_still_hides_the_traceback(auth_client, settings):
    settings.DEBUG = True
    auth_client.raise_request_exception = False
    with mock.patch("accounts.services.user_update_profile", side_effect=RuntimeError("boom-internal")):
        response = auth_client.patch("/api/v1/profile", {"name": "x"}, format="json")
    assert response.status_code == 500
    assert "boom-internal" not in response.content.decode()


def test_validation_error_lists_field_details(api_client):
    response = api_client.post("/api/v1/auth/register", {"email": "not-an-email"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]) >= {"email", "password", "name"}
    assert error["message"]


def test_malformed_json_is_a_validation_error(api_client):
    response = api_client.post("/api/v1/auth/login", "{bad json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_missing_token_is_401_not_authenticated(api_client):
    response = api_client.get("/api/v1/profile")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bad_token_is_401_authentication_failed():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    response = client.get("/api/v1/profile")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_throttling_is_429_rate_limited(api_client, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"anon_auth": "2/min"})
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"  # own bucket
    for _ in range(2):
        api_client.post("/api/v1/auth/forgot-password", {"email": "a@example.com"}, format="json", REMOTE_ADDR=ip)
    response = api_client.post(
        "/api/v1/auth/forgot-password", {"email": "a@example.com"}, format="json", REMOTE_ADDR=ip
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0


def test_lists_carry_meta_and_honour_limit_and_offset(auth_client):
    from accounts.tests.factories import OrganizationFactory
    from organizations.models import Membership, Role

    for _ in range(4):
        Membership.objects.create(organization=OrganizationFactory(), user=auth_client.user, role=Role.MEMBER)
    body = auth_client.get("/api/v1/orgs?limit=2&offset=1").json()
    assert body["success"] is True
    assert body["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert len(body["data"]) == 2


def test_list_limit_is_capped_at_100(auth_client):
    body = auth_client.get("/api/v1/orgs?limit=1000").json()
    assert body["meta"]["limit"] == 100


def test_non_api_pages_keep_django_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
