"""Malformed request bodies answer a 4xx envelope, never a 500, on every kind of endpoint:
the DRF views (JSONParser) and the lean service views (their own JSON parsing)."""

from __future__ import annotations

import json

import pytest
from django.http import JsonResponse
from django.test import Client
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from apikeys.models import APIKey, Scope
from apikeys.services import apikey_create
from billing_project.testing import assert_error
from credits.models import CreditLedgerEntry
from credits.services import credits_grant
from organizations.models import Invitation, Membership, Organization, Role
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
PROFILE = "/api/v1/profile"
CHECKOUT = "/api/v1/checkout/create"
REPORT = "/api/v1/usage/report"
BATCH = "/api/v1/usage/batch-report"
SPEND = "/api/v1/credits/spend"
API_KEYS = "/api/v1/api-keys"

DEFAULT_BODY_LIMIT = 2_621_440  # 2.5 MiB: DATA_UPLOAD_MAX_MEMORY_SIZE
DEFAULT_BATCH_BODY_LIMIT = 5_242_880  # 5 MiB: USAGE_BATCH_MAX_BODY_BYTES


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(name="Hostile Input Ltd", currency="USD")


@pytest.fixture
def owner(org):
    user = UserFactory()
    MembershipFactory(organization=org, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def people(owner, org) -> Client:
    """The owner of `org`, signed in with a JWT, acting on `org`."""
    from accounts.services import token_pair_for

    return Client(headers={"authorization": f"Bearer {token_pair_for(owner).token}", "x-current-org": str(org.pk)})


@pytest.fixture
def service(org) -> Client:
    """A live API key of `org` with every scope."""
    _, secret = apikey_create(
        organization=org, created_by=None, name="live key", scopes=list(Scope.values), mode="live"
    )
    return Client(headers={"authorization": f"Bearer {secret}"})


def post(client: Client, path: str, body: str | bytes, method: str = "POST"):
    data = body.encode() if isinstance(body, str) else body
    return client.generic(method, path, data, content_type="application/json")


def padded(body: dict, size: int) -> str:
    """`body` as JSON with an ignored `padding` member making it exactly `size` bytes."""
    text = json.dumps({**body, "padding": ""})
    return text[:-2] + "x" * (size - len(text)) + '"}'


def stored_rows() -> dict[str, int]:
    return {
        "usage_events": UsageEvent.objects.count(),
        "ledger": CreditLedgerEntry.objects.count(),
        "memberships": Membership.objects.count(),
        "invitations": Invitation.objects.count(),
        "api_keys": APIKey.objects.count(),
    }


EVENT = {"event_type": "tokens_used", "quantity": 5}
OVERSIZED = [
    pytest.param("service", "POST", REPORT, EVENT, id="usage-report"),
    pytest.param("service", "POST", BATCH, {"events": [EVENT]}, id="usage-batch-report"),
    pytest.param("service", "POST", SPEND, {"amount_cents": 1, "reference": "r", "idempotency_key": "k"}, id="spend"),
    pytest.param("people", "POST", CHECKOUT, {"plan_id": "x"}, id="checkout-create"),
    pytest.param("people", "PATCH", PROFILE, {"name": "Big"}, id="profile-patch"),
    pytest.param("anonymous", "POST", REGISTER, {"name": "n", "email": "e@example.com"}, id="register"),
]


@pytest.fixture
def clients(people, service) -> dict[str, Client]:
    return {"people": people, "service": service, "anonymous": Client()}


# --- bodies over the limit: 413 -----------------------------------------------------------


@pytest.mark.parametrize(("who", "method", "path", "body"), OVERSIZED)
def test_a_body_one_byte_over_the_limit_is_413_and_changes_nothing(settings, clients, who, method, path, body, org):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    settings.USAGE_BATCH_MAX_BODY_BYTES = 4096
    credits_grant(organization=org, amount_cents=1000, reason="Goodwill")
    before = stored_rows()

    response = post(clients[who], path, padded(body, 4097), method)

    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": 4096}
    assert stored_rows() == before


@pytest.mark.parametrize(("who", "method", "path", "body"), OVERSIZED)
def test_a_body_at_the_limit_is_read(settings, clients, who, method, path, body):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    settings.USAGE_BATCH_MAX_BODY_BYTES = 4096

    response = post(clients[who], path, padded(body, 4096), method)

    assert response.status_code != 413, response.content
    assert response.status_code < 500, response.content


def test_the_default_limits_are_explicit(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == DEFAULT_BODY_LIMIT
    assert settings.USAGE_BATCH_MAX_BODY_BYTES == DEFAULT_BATCH_BODY_LIMIT


@pytest.mark.parametrize(("who", "path"), [("people", PROFILE), ("service", REPORT), ("service", SPEND)])
def test_a_body_just_over_the_default_limit_is_413(clients, who, path):
    response = post(
        clients[who], path, padded({"name": "n"}, DEFAULT_BODY_LIMIT + 1), "PATCH" if path == PROFILE else "POST"
    )

    assert_error(response, 413, "payload_too_large")


def test_a_batch_of_1000_events_with_4kb_metadata_each_fits_the_batch_limit(service, org):
    """The batch endpoint takes a bigger body: 1000 events at their largest allowed metadata."""
    metadata = {"blob": "m" * 4080}
    events = [{**EVENT, "idempotency_key": f"evt-{i:06d}", "metadata": metadata} for i in range(1000)]
    body = json.dumps({"events": events})
    assert DEFAULT_BODY_LIMIT < len(body) < DEFAULT_BATCH_BODY_LIMIT

    response = post(service, BATCH, body)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["data"]["processed_count"] == 1000


def test_a_batch_of_100000_events_is_413_and_stores_nothing(service, org):
    events = [{**EVENT, "idempotency_key": f"evt-{i:06d}"} for i in range(100_000)]

    response = post(service, BATCH, json.dumps({"events": events}))

    assert_error(response, 413, "payload_too_large")
    assert UsageEvent.objects.count() == 0


def test_a_batch_just_over_its_own_limit_is_413(service):
    response = post(service, BATCH, padded({"events": [EVENT]}, DEFAULT_BATCH_BODY_LIMIT + 1))

    assert_error(response, 413, "payload_too_large")


def test_an_oversized_form_body_is_413(settings, owner):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = Client()

    response = client.post(
        "/api/v1/auth/login",
        f"username={owner.email}&password={'p' * 2000}",
        content_type="application/x-www-form-urlencoded",
    )

    assert_error(response, 413, "payload_too_large")


def test_too_many_form_fields_is_400(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5

    response = Client().post(
        "/api/v1/auth/login",
        "&".join(f"f{i}=x" for i in range(10)),
        content_type="application/x-www-form-urlencoded",
    )

    assert_error(response, 400, "validation_error")


def _plain_view_reading_the_body(request):
    return JsonResponse({"read": len(request.body)})


urlpatterns = [path("api/v1/plain-echo", csrf_exempt(_plain_view_reading_the_body))]


def test_a_plain_django_view_under_api_answers_an_oversized_body_413(settings):
    settings.ROOT_URLCONF = __name__
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = post(Client(), "/api/v1/plain-echo", "x" * 1025)

    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": 1024}


# --- nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("anonymous", "POST", REGISTER),
        ("people", "PATCH", PROFILE),
        ("people", "POST", CHECKOUT),
        ("people", "POST", API_KEYS),
        ("service", "POST", SPEND),
    ],
)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_json_nested_100000_levels_deep_is_400(clients, who, method, path, opening):
    before = stored_rows()

    response = post(clients[who], path, opening * 100_000, method)

    error = assert_error(response, 400, "validation_error")
    assert "nested" in error["message"].lower()
    assert stored_rows() == before


def test_a_field_nested_hundreds_of_levels_deep_is_a_field_error(people):
    response = post(people, PROFILE, '{"name":' + "[" * 500 + "]" * 500 + "}", "PATCH")

    error = assert_error(response, 400, "validation_error")
    assert "name" in error["details"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_constants_are_400(people, constant):
    response = post(people, PROFILE, f'{{"name":"n","x":{constant}}}', "PATCH")

    assert_error(response, 400, "validation_error")


# --- text no database stores: NUL and lone surrogates ---------------------------------------

NUL = "\\u0000"
SURROGATE = "\\ud800"


def test_a_lone_surrogate_in_a_choice_is_400_naming_the_field(people, org):
    response = post(people, f"/api/v1/orgs/{org.pk}/invite", f'{{"email":"new@example.com","role":"{SURROGATE}"}}')

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["role"]
    assert Invitation.objects.count() == 0


def test_a_lone_surrogate_in_a_list_item_is_400_naming_the_item(people):
    before = APIKey.objects.count()

    response = post(people, API_KEYS, f'{{"name":"ci","scopes":["usage:read","{SURROGATE}"]}}')

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["scopes.1"]
    assert APIKey.objects.count() == before


def test_a_lone_surrogate_in_a_member_role_is_400(people, org, owner):
    member = UserFactory()
    MembershipFactory(organization=org, user=member, role=Role.MEMBER)

    response = post(people, f"/api/v1/orgs/{org.pk}/members/{member.pk}", f'{{"role":"{SURROGATE}"}}', "PATCH")

    assert_error(response, 400, "validation_error")
    assert Membership.objects.get(organization=org, user=member).role == Role.MEMBER


def test_a_nul_in_an_ignored_member_is_still_400(people, owner):
    response = post(people, PROFILE, f'{{"name":"New name","{NUL}":1}}', "PATCH")

    assert_error(response, 400, "validation_error")
    owner.refresh_from_db()
    assert owner.name != "New name"


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "field"),
    [
        ("anonymous", "POST", REGISTER, f'{{"name":"a{NUL}","email":"r@example.com","password":"pw12345678"}}', "name"),
        (
            "anonymous",
            "POST",
            REGISTER,
            f'{{"name":"a","email":"r{SURROGATE}@example.com","password":"pw1234567"}}',
            "email",
        ),
        ("people", "PATCH", PROFILE, f'{{"name":"n","company":"{SURROGATE}"}}', "company"),
        ("people", "POST", "/api/v1/orgs", f'{{"name":"Acme{NUL}"}}', "name"),
        ("people", "POST", API_KEYS, f'{{"name":"{SURROGATE}","scopes":["usage:read"]}}', "name"),
        ("service", "POST", SPEND, f'{{"amount_cents":1,"reference":"r{NUL}","idempotency_key":"k"}}', "reference"),
        (
            "service",
            "POST",
            SPEND,
            f'{{"amount_cents":1,"reference":"r","idempotency_key":"{SURROGATE}"}}',
            "idempotency_key",
        ),
        ("people", "POST", CHECKOUT, f'{{"plan_id":"x","success_url":"https://a.example/{NUL}"}}', "success_url"),
    ],
)
def test_nul_or_lone_surrogate_in_any_text_field_is_400_naming_it(clients, org, who, method, path, body, field):
    credits_grant(organization=org, amount_cents=1000, reason="Goodwill")
    before = stored_rows()

    response = post(clients[who], path, body, method)

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert stored_rows() == before


def test_escaped_valid_non_ascii_text_is_accepted(people, owner):
    response = post(people, PROFILE, '{"name":"Zo\\u00eb \\ud83d\\ude00","company":"C:\\\\u0000"}', "PATCH")

    assert response.status_code == 200, response.content
    owner.refresh_from_db()
    assert (owner.name, owner.company) == ("Zo\u00eb \U0001f600", "C:\\u0000")


# --- URLs over the limit: 414 -------------------------------------------------------------


def _query_of_length(prefix: str, total: int) -> str:
    """`prefix` plus a query string of repeated `limit=` values, path+query exactly `total` long."""
    query = "limit=1"
    while len(prefix) + 1 + len(query) < total:
        query += "&limit=1"
    query = query[: total - len(prefix) - 1]
    return f"{prefix}?{query}"


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("people", "/api/v1/credit-notes"),
        ("people", "/api/v1/invoices"),
        ("service", "/api/v1/usage/quota-check"),
        ("anonymous", "/api/v1/plans"),
    ],
)
def test_a_url_one_byte_over_the_limit_is_414_in_the_envelope(settings, clients, who, path):
    settings.MAX_URL_BYTES = 512

    over = clients[who].get(_query_of_length(path, 513))
    at = clients[who].get(_query_of_length(path, 512))

    assert_error(over, 414, "uri_too_long")
    assert "512 bytes" in over.json()["error"]["message"]
    assert at.status_code != 414


def test_a_long_post_url_is_414_and_stores_nothing(settings, service):
    settings.MAX_URL_BYTES = 256
    before = stored_rows()

    response = post(service, _query_of_length(REPORT, 300), json.dumps(EVENT))

    assert_error(response, 414, "uri_too_long")
    assert stored_rows() == before


def test_the_default_url_limit_takes_the_query_schemathesis_sent(people):
    """The fuzzer's 4,842-byte query of repeated `limit` values (CI, 2026-12-02) is a 414
    envelope, not gunicorn's HTML page; an ordinary long query is still read."""
    response = people.get(_query_of_length("/api/v1/credit-notes", 4842))
    assert_error(response, 414, "uri_too_long")
    assert people.get(_query_of_length("/api/v1/credit-notes", 4000)).status_code in {200, 400}
