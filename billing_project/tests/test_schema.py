import pytest
import yaml
from django.core.management import call_command

from billing_project.tests.openapi import assert_response_matches_schema

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


# --- the schema and its viewers are public, whatever Authorization is sent ------------------


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_live_not-a-real-key-0123456789", "Bearer not.a.jwt", "Basic Zm9vOmJhcg=="],
    ids=["none", "api-key", "bad-jwt", "basic"],
)
def test_the_schema_and_its_viewers_are_public_whatever_authorization_is_sent(api_client, path, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = api_client.get(path, **headers)

    assert response.status_code == 200, response.content[:300]


def test_the_schema_is_public_for_a_real_api_key(api_client, user):
    from apikeys.models import Scope
    from apikeys.services import apikey_create
    from organizations.models import Membership

    organization = Membership.objects.get(user=user).organization
    _key, secret = apikey_create(organization=organization, created_by=user, name="k", scopes=[Scope.USAGE_READ])

    response = api_client.get("/api/schema/", {"format": "json"}, HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


# --- every error status an operation answers is documented ---------------------------------


def _api_operations(schema):
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            yield path, method, operation


def test_every_operation_that_takes_a_body_documents_413_and_415(schema):
    for path, method, operation in _api_operations(schema):
        if method in {"post", "put", "patch"} or "requestBody" in operation:
            assert {"413", "415"} <= set(operation["responses"]), (method, path)


def test_every_api_operation_documents_406(schema):
    for path, method, operation in _api_operations(schema):
        assert "406" in operation["responses"], (method, path)


def test_operations_that_take_x_current_org_document_404(schema):
    for path, method, operation in _api_operations(schema):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "X-Current-Org" in headers:
            assert "404" in operation["responses"], (method, path)


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/auth/forgot-password"]
)
def test_throttled_public_auth_operations_document_429(schema, path):
    assert "429" in schema["paths"][path]["post"]["responses"]


def test_every_documented_error_is_the_error_envelope(schema):
    for path, method, operation in _api_operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                continue
            body = response["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, status)


def test_the_subscription_may_be_null(schema):
    body = schema["paths"]["/api/v1/subscriptions"]["get"]["responses"]["200"]["content"]["application/json"]
    data = body["schema"]["properties"]["data"]
    assert data == {"allOf": [{"$ref": "#/components/schemas/Subscription"}], "nullable": True}
    assert "x-data-nullable" not in schema["paths"]["/api/v1/subscriptions"]["get"]


# --- the answers behind those statuses are within the schema -------------------------------


def test_an_unsupported_content_type_is_a_documented_415(auth_client):
    response = auth_client.post("/api/v1/orgs", b"<org/>", content_type="application/xml")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert_response_matches_schema(response, method="POST", path="/api/v1/orgs")


def test_an_unacceptable_accept_header_is_a_documented_406(api_client):
    response = api_client.get("/api/v1/plans", HTTP_ACCEPT="application/xml")

    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"
    assert_response_matches_schema(response, method="GET", path="/api/v1/plans")


def test_an_unknown_current_org_is_a_documented_404(auth_client):
    response = auth_client.get("/api/v1/usage/limits", HTTP_X_CURRENT_ORG="no-such-org")

    assert response.status_code == 404
    assert_response_matches_schema(response, method="GET", path="/api/v1/usage/limits")


def test_deleting_the_account_documents_its_password_body(schema):
    operation = schema["paths"]["/api/v1/profile"]["delete"]

    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ProfileDeleteInputRequest"}
    assert schema["components"]["schemas"]["ProfileDeleteInputRequest"]["required"] == ["password"]


def test_deleting_the_account_without_the_password_is_a_documented_400(auth_client, user):
    response = auth_client.delete("/api/v1/profile")

    assert response.status_code == 400
    assert_response_matches_schema(response, method="DELETE", path="/api/v1/profile")
    user.refresh_from_db()
    assert user.is_active


@pytest.mark.parametrize("gateway", ["xendit", "midtrans"])
def test_a_webhook_of_a_gateway_this_server_does_not_use_is_a_documented_404(api_client, settings, gateway):
    settings.XENDIT_SECRET_KEY = settings.XENDIT_CALLBACK_TOKEN = settings.MIDTRANS_SERVER_KEY = ""

    response = api_client.post(f"/webhooks/{gateway}", {}, format="json", HTTP_X_CALLBACK_TOKEN="x")

    assert response.status_code == 404
    assert_response_matches_schema(response, method="POST", path=f"/webhooks/{gateway}")
