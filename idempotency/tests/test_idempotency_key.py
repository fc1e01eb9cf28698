"""The `Idempotency-Key` header on the POST/PUT endpoints that move money: checkout/create,
invoices/{id}/pay, credits/purchase and subscriptions/upgrade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from billing_project.testing import assert_error, assert_ok
from billing_project.tests.openapi import assert_response_matches_schema, served_schema
from billing_project.tests.world import people_client, subscribe
from idempotency.mixins import _request_hash
from idempotency.models import IdempotencyRecord
from idempotency.tasks import purge_expired_idempotency_keys
from invoices.services import invoice_for_first_period
from payments.gateways.base import GatewayError
from payments.gateways.sandbox import PM_OK, SandboxGateway
from payments.tests.support import CANCEL_URL, CHECKOUT, CREDITS_PURCHASE, SUCCESS_URL, UPGRADE, counts, pay_url
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db


@dataclass
class Endpoint:
    """One idempotent endpoint, set up for the team's organization."""

    method: str
    url: str
    body: dict
    other_body: dict
    schema_path: str

    def send(self, client, body=None, key: str | None = None):
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        send = getattr(client, self.method.lower())
        return send(self.url, self.body if body is None else body, format="json", **headers)


def checkout_endpoint(org, pro, team_plan) -> Endpoint:
    body = {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}
    return Endpoint("POST", CHECKOUT, body, {**body, "plan_id": str(team_plan.pk)}, "/api/v1/checkout/create")


def pay_endpoint(org, pro, team_plan) -> Endpoint:
    invoice = invoice_for_first_period(subscription=subscribe(org, pro, payment_method=PM_OK))
    return Endpoint("POST", pay_url(invoice), {}, {"gateway": "sandbox"}, "/api/v1/invoices/{invoice_id}/pay")


def purchase_endpoint(org, pro, team_plan) -> Endpoint:
    body = {"amount_cents": 5000, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}
    return Endpoint("POST", CREDITS_PURCHASE, body, {**body, "amount_cents": 6000}, "/api/v1/credits/purchase")


def upgrade_endpoint(org, pro, team_plan) -> Endpoint:
    subscribe(org, pro, payment_method=PM_OK)
    body = {"new_plan_id": str(team_plan.pk), "prorate": True}
    return Endpoint("PUT", UPGRADE, body, {**body, "prorate": False}, "/api/v1/subscriptions/upgrade")


ENDPOINTS = {
    "checkout": checkout_endpoint,
    "invoice-pay": pay_endpoint,
    "credits-purchase": purchase_endpoint,
    "upgrade": upgrade_endpoint,
}


@pytest.fixture(params=list(ENDPOINTS))
def endpoint(request, org, pro, team_plan) -> Endpoint:
    return ENDPOINTS[request.param](org, pro, team_plan)


def world(org) -> dict:
    """Everything the four endpoints can create or change."""
    subscription = Subscription.objects.filter(organization=org).order_by("-created_at").first()
    return {
        **counts(org),
        "plan": subscription.plan.code if subscription else None,
        "scheduled_plan": subscription.scheduled_plan.code if subscription and subscription.scheduled_plan else None,
    }


def in_progress_record(user, org, endpoint: Endpoint, key: str, *, age=timedelta(0)) -> IdempotencyRecord:
    """A claim of `key` as the first request would leave it while still running."""
    fake_request = SimpleNamespace(method=endpoint.method, path=endpoint.url, data=endpoint.body)
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        scope=f"user:{user.pk}|org:{org.pk}",
        key=key,
        method=endpoint.method,
        path=endpoint.url,
        request_hash=_request_hash(fake_request),
        created_at=now - age,
        expires_at=now + timedelta(hours=48),
    )


# --- every endpoint --------------------------------------------------------------------


def test_a_replay_returns_the_first_status_and_body_and_does_nothing_again(owner, org, endpoint):
    first = endpoint.send(owner, key="key-1")
    assert first.status_code == 200, first.content
    after_first = world(org)

    replay = endpoint.send(owner, key="key-1")

    assert replay.status_code == first.status_code
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert replay["Content-Type"] == "application/json"
    assert world(org) == after_first


def test_the_first_answer_is_not_marked_as_replayed(owner, endpoint):
    first = endpoint.send(owner, key="key-1")

    assert first.status_code == 200
    assert not first.has_header("Idempotent-Replayed")


def test_the_same_key_with_another_body_is_422(owner, org, endpoint):
    endpoint.send(owner, key="key-1")
    before = world(org)

    response = endpoint.send(owner, body=endpoint.other_body, key="key-1")

    assert_error(response, 422, "idempotency_key_reused")
    assert not response.has_header("Idempotent-Replayed")
    assert world(org) == before


def test_a_key_whose_first_request_is_still_running_is_409(team, org, endpoint):
    in_progress_record(team.users["owner"], org, endpoint, "key-1")
    before = world(org)

    response = endpoint.send(team.owner, key="key-1")

    assert_error(response, 409, "idempotency_in_progress")
    assert world(org) == before
    assert IdempotencyRecord.objects.get(key="key-1").status == "in_progress"


def test_an_over_long_key_is_400_and_does_nothing(owner, org, endpoint):
    before = world(org)

    error = assert_error(endpoint.send(owner, key="k" * 256), 400, "validation_error")

    assert "idempotency_key" in error["details"]
    assert world(org) == before
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["key\x00one", "key-\ud800"], ids=["nul", "lone-surrogate"])
def test_a_key_no_database_can_store_is_400_and_does_nothing(owner, org, endpoint, key):
    before = world(org)

    error = assert_error(endpoint.send(owner, key=key), 400, "validation_error")

    assert "idempotency_key" in error["details"]
    assert world(org) == before
    assert not IdempotencyRecord.objects.exists()


def test_without_a_key_each_request_is_new(owner, org, endpoint):
    first = endpoint.send(owner)

    assert first.status_code == 200
    assert not IdempotencyRecord.objects.exists()


# --- the rules, on one endpoint --------------------------------------------------------


@pytest.fixture
def purchase(org, pro, team_plan) -> Endpoint:
    return purchase_endpoint(org, pro, team_plan)


@pytest.fixture
def checkout(org, pro, team_plan) -> Endpoint:
    return checkout_endpoint(org, pro, team_plan)


def test_the_answer_is_stored_completed_with_its_status_and_body(owner, purchase):
    response = purchase.send(owner, key="key-1")

    record = IdempotencyRecord.objects.get()
    assert (record.key, record.method, record.path, record.status) == ("key-1", "POST", CREDITS_PURCHASE, "completed")
    assert record.response_status == 200
    assert bytes(record.response_body) == response.content
    assert record.expires_at > timezone.now() + timedelta(hours=47)


def test_two_purchases_without_a_key_are_two_purchases(owner, org, purchase):
    purchase.send(owner)
    purchase.send(owner)

    assert counts(org)["invoices"] == 2


def test_two_purchases_with_different_keys_are_two_purchases(owner, org, purchase):
    purchase.send(owner, key="key-1")
    purchase.send(owner, key="key-2")

    assert counts(org)["invoices"] == 2


def test_a_key_of_255_characters_is_accepted(owner, org, purchase):
    assert purchase.send(owner, key="k" * 255).status_code == 200
    assert purchase.send(owner, key="k" * 255)["Idempotent-Replayed"] == "true"
    assert counts(org)["invoices"] == 1


def test_a_blank_key_is_400(owner, org, purchase):
    assert_error(purchase.send(owner, key="   "), 400, "validation_error")
    assert counts(org)["invoices"] == 0


def test_the_same_key_on_another_endpoint_is_422(owner, org, purchase, checkout):
    purchase.send(owner, key="key-1")

    assert_error(checkout.send(owner, key="key-1"), 422, "idempotency_key_reused")
    assert counts(org)["subscriptions"] == 0


def test_a_key_belongs_to_its_user_and_organization(team, org, purchase):
    purchase.send(team.owner, key="key-1")

    second = purchase.send(team.client("admin"), key="key-1")

    assert second.status_code == 200
    assert not second.has_header("Idempotent-Replayed")
    assert counts(org)["invoices"] == 2


def test_a_key_used_in_another_organization_is_not_a_replay_there(team, org, other_team, purchase):
    purchase.send(team.owner, key="key-1")
    own_org_of_owner = people_client(team.users["owner"])  # the owner's personal organization

    response = purchase.send(own_org_of_owner, key="key-1")

    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")
    assert counts(org)["invoices"] == 1


def test_a_client_error_is_stored_and_replayed(owner, org, pro, checkout):
    subscribe(org, pro, payment_method=PM_OK)  # a live subscription: checkout is a 409
    first = checkout.send(owner, key="key-1")
    assert_error(first, 409, "conflict")

    replay = checkout.send(owner, key="key-1")

    assert replay.status_code == 409
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"


def test_a_gateway_error_is_not_stored_and_the_retry_runs(owner, org, checkout, monkeypatch):
    def gateway_down(self, **kwargs):
        raise GatewayError()

    with monkeypatch.context() as patch:
        patch.setattr(SandboxGateway, "create_checkout", gateway_down)
        assert_error(checkout.send(owner, key="key-1"), 502, "gateway_error")
    assert not IdempotencyRecord.objects.exists()
    assert counts(org)["subscriptions"] == 0

    retry = checkout.send(owner, key="key-1")

    assert_ok(retry)
    assert not retry.has_header("Idempotent-Replayed")
    assert counts(org) == {"subscriptions": 1, "invoices": 1, "payments": 1}


def test_a_server_error_is_not_stored_and_the_retry_runs(owner, org, checkout, monkeypatch):
    import billing.services

    def crash(**kwargs):
        raise RuntimeError("database went away")

    owner.raise_request_exception = False
    with monkeypatch.context() as patch:
        patch.setattr(billing.services, "checkout_create", crash)
        assert_error(checkout.send(owner, key="key-1"), 500, "server_error")
    assert not IdempotencyRecord.objects.exists()

    retry = checkout.send(owner, key="key-1")

    assert_ok(retry)
    assert counts(org) == {"subscriptions": 1, "invoices": 1, "payments": 1}


def test_an_abandoned_claim_is_taken_over(team, org, checkout):
    in_progress_record(team.users["owner"], org, checkout, "key-1", age=timedelta(minutes=6))

    response = checkout.send(team.owner, key="key-1")

    assert_ok(response)
    assert counts(org)["subscriptions"] == 1
    record = IdempotencyRecord.objects.get(key="key-1")
    assert (record.status, record.response_status) == ("completed", 200)


def test_an_expired_key_can_be_used_again(owner, org, purchase):
    purchase.send(owner, key="key-1")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = purchase.send(owner, key="key-1", body={**purchase.body, "amount_cents": 7000})

    assert again.status_code == 200
    assert not again.has_header("Idempotent-Replayed")
    assert counts(org)["invoices"] == 2


def test_a_get_ignores_the_key(owner, org, checkout):
    session = assert_ok(checkout.send(owner))["session_id"]

    response = owner.get("/api/v1/checkout/success", {"session_id": session}, HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 200
    assert not IdempotencyRecord.objects.exists()


def test_a_refused_request_does_not_claim_the_key(team, org, purchase):
    assert_error(purchase.send(team.client("member"), key="key-1"), 403, "permission_denied")

    assert not IdempotencyRecord.objects.exists()


# --- the purge task --------------------------------------------------------------------


def test_the_purge_task_deletes_expired_records_only(owner, purchase):
    purchase.send(owner, key="old")
    purchase.send(owner, key="fresh")
    IdempotencyRecord.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(minutes=1))

    deleted = purge_expired_idempotency_keys()

    assert deleted == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_the_purge_task_with_nothing_expired_deletes_nothing(owner, purchase):
    purchase.send(owner, key="fresh")

    assert purge_expired_idempotency_keys.delay().get() == 0
    assert IdempotencyRecord.objects.count() == 1


# --- the published schema says all of it ------------------------------------------------


def test_the_schema_documents_the_idempotency_key_header_and_its_answers(endpoint):
    operation = served_schema()["paths"][endpoint.schema_path][endpoint.method.lower()]

    headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert "Idempotency-Key" in headers
    assert {"409", "422", "502"} <= set(operation["responses"])


def test_a_reused_key_answer_matches_the_schema(owner, endpoint):
    endpoint.send(owner, key="key-1")

    response = endpoint.send(owner, body=endpoint.other_body, key="key-1")

    assert response.status_code == 422
    assert_response_matches_schema(response, method=endpoint.method, path=endpoint.schema_path)


def test_a_key_still_running_answer_matches_the_schema(team, org, endpoint):
    in_progress_record(team.users["owner"], org, endpoint, "key-1")

    response = endpoint.send(team.owner, key="key-1")

    assert response.status_code == 409
    assert_response_matches_schema(response, method=endpoint.method, path=endpoint.schema_path)
