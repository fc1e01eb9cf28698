import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/forgot-password",
        "/api/v1/auth/reset-password",
        "/api/v1/profile",
        "/api/v1/orgs",
        "/api/v1/orgs/{org_id}",
        "/api/v1/orgs/{org_id}/invite",
        "/api/v1/orgs/{org_id}/members",
        "/api/v1/orgs/{org_id}/members/{user_id}",
        "/api/v1/invitations/accept",
        "/api/v1/plans",
        "/api/v1/plans/{plan_id}",
        "/api/v1/entitlements",
        "/api/v1/api-keys",
        "/api/v1/api-keys/{key_id}",
        "/api/v1/api-keys/{key_id}/rotate",
        "/api/v1/usage",
        "/api/v1/usage/history",
        "/api/v1/usage/limits",
        "/api/v1/usage/report",
        "/api/v1/usage/batch-report",
        "/api/v1/usage/quota-check",
        "/health",
        "/health/detailed",
        "/ready",
        "/live",
        "/webhooks/stripe",
        "/webhooks/xendit",
        "/webhooks/midtrans",
        "/webhooks/sandbox",
    ],
)
def test_every_endpoint_is_documented(schema, path):
    assert path in schema["paths"]


def test_every_success_response_shows_the_envelope(schema):
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        if path.startswith("/webhooks/"):
            continue  # the gateways read `{"received": true}` (API.md, webhooks)
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                body = response.get("content", {}).get("application/json", {}).get("schema")
                if body is None:
                    continue
                if "$ref" in body:
                    body = components[body["$ref"].rsplit("/", 1)[-1]]
                assert "success" in body["properties"], (method, path, status)


def test_authenticated_operations_document_401(schema):
    profile = schema["paths"]["/api/v1/profile"]["get"]
    assert profile["security"] == [{"jwtAuth": []}]
    assert "401" in profile["responses"]


def test_public_operations_need_no_auth(schema):
    register = schema["paths"]["/api/v1/auth/register"]["post"]
    assert register.get("security", [{}]) in ([{}], [])


def test_service_endpoints_document_the_api_key_scheme(schema):
    report = schema["paths"]["/api/v1/usage/report"]["post"]
    assert report["security"] == [{"apiKeyAuth": []}]
    assert schema["components"]["securitySchemes"]["apiKeyAuth"]["scheme"] == "bearer"


def test_webhooks_answer_received_and_document_their_verification(schema):
    xendit = schema["paths"]["/webhooks/xendit"]["post"]
    assert xendit["parameters"][0]["name"] == "x-callback-token"
    assert set(xendit["responses"]) >= {"200", "400", "401", "500"}
    body = xendit["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["properties"]["received"]["enum"] == [True]
    assert "signature_key" in schema["paths"]["/webhooks/midtrans"]["post"]["description"]
