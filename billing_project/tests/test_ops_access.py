"""/health/detailed and /metrics answer operators only (OPS_TOKEN, OPS_ALLOWED_NETWORKS, a
staff session) and 404 to anyone else; /health, /live and /ready stay public."""

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.7"
OPS_ENDPOINTS = ["/health/detailed", "/metrics"]


@pytest.mark.parametrize("path", OPS_ENDPOINTS)
def test_ops_endpoints_are_404_in_the_envelope_from_outside_the_allowed_networks(api_client, path):
    response = api_client.get(path, REMOTE_ADDR=OUTSIDE)

    assert response.status_code == 404
    assert response.json() == {"success": False, "error": {"code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize("path", ["/health", "/live", "/ready"])
def test_probe_endpoints_stay_public(api_client, path):
    assert api_client.get(path, REMOTE_ADDR=OUTSIDE).status_code == 200


@pytest.mark.parametrize("path", OPS_ENDPOINTS)
def test_ops_endpoints_answer_the_ops_token(api_client, settings, path):
    settings.OPS_TOKEN = "ops-token-for-tests-0123456789"

    response = api_client.get(path, REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ops-token-for-tests-0123456789")

    assert response.status_code == 200


@pytest.mark.parametrize("path", OPS_ENDPOINTS)
def test_a_wrong_ops_token_is_404(api_client, settings, path):
    settings.OPS_TOKEN = "ops-token-for-tests-0123456789"

    response = api_client.get(path, REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ops-token-for-tests-012345678")

    assert response.status_code == 404


def test_no_ops_token_configured_means_a_bearer_token_opens_nothing(api_client, settings):
    settings.OPS_TOKEN = ""

    assert api_client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize("path", OPS_ENDPOINTS)
def test_ops_endpoints_answer_a_configured_network(api_client, settings, path):
    settings.OPS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    assert api_client.get(path, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert api_client.get(path, REMOTE_ADDR="127.0.0.1").status_code == 404


def test_a_spoofed_forwarded_for_does_not_pass_without_trusted_proxies(api_client, settings):
    settings.NUM_PROXIES = 0

    response = api_client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert response.status_code == 404


def test_behind_a_trusted_proxy_the_forwarded_client_address_counts(api_client, settings):
    settings.NUM_PROXIES = 1

    assert api_client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 404
    assert api_client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200


@pytest.mark.parametrize("path", OPS_ENDPOINTS)
def test_ops_endpoints_answer_a_signed_in_staff_user(path):
    client = Client(REMOTE_ADDR=OUTSIDE)
    client.force_login(UserFactory(is_staff=True))

    assert client.get(path).status_code == 200


def test_a_signed_in_customer_is_not_an_operator():
    client = Client(REMOTE_ADDR=OUTSIDE)
    client.force_login(UserFactory())

    assert client.get("/health/detailed").status_code == 404


@pytest.mark.parametrize("path", OPS_ENDPOINTS)
def test_ops_answers_are_not_cached(api_client, path):
    assert "no-store" in api_client.get(path)["Cache-Control"]
