"""Health endpoints. The test client comes from 127.0.0.1, inside the default
OPS_ALLOWED_NETWORKS, so it may read /health/detailed and /metrics (test_ops_access.py
covers who else may)."""

from unittest import mock

import pytest

pytestmark = pytest.mark.django_db


def test_health_answers_ok_in_the_envelope(api_client):
    response = api_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": "OK"}


def test_live_answers_ok(api_client):
    assert api_client.get("/live").json() == {"success": True, "data": "OK"}


def test_ready_answers_ok_when_the_database_is_up(api_client):
    assert api_client.get("/ready").status_code == 200


def test_ready_is_503_when_the_database_is_down(api_client):
    with mock.patch("billing_project.health.database_ok", return_value=False):
        response = api_client.get("/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


def test_detailed_reports_database_cache_celery_and_uptime(api_client, settings):
    data = api_client.get("/health/detailed").json()["data"]
    assert data["database"] == "ok"
    assert data["status"] == "ok"
    assert data["celery"]["mode"] in {"eager", "workers"}
    assert isinstance(data["uptime"], int)
    assert data["redis"] == ("ok" if settings.REDIS_URL else "not configured")


def test_detailed_is_503_and_degraded_when_the_database_is_down(api_client):
    with mock.patch("billing_project.health.database_ok", return_value=False):
        response = api_client.get("/health/detailed")
    assert response.status_code == 503
    assert response.json()["data"]["status"] == "degraded"


def test_metrics_are_prometheus_text(api_client):
    api_client.get("/health")
    response = api_client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/xml", "*/*", ""])
@pytest.mark.parametrize("path", ["/health", "/live", "/ready", "/health/detailed"])
def test_health_endpoints_answer_json_whatever_the_probe_accepts(api_client, path, accept):
    response = api_client.get(path, HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is True


def test_metrics_answer_prometheus_text_to_a_plain_text_scrape(api_client):
    response = api_client.get("/metrics", HTTP_ACCEPT="text/plain;version=0.0.4")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def test_metrics_answer_the_text_format_to_prometheus_own_accept_header(api_client):
    accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

    response = api_client.get("/metrics", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"django_http_requests_total_by_method_total" in response.content
