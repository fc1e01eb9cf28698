"""POST /webhooks/{gateway}: verify, store once, process in one transaction."""

import json
import time

import pytest
from django.test import override_settings

from invoices.models import Invoice
from payments.gateways import sandbox
from payments.models import Payment
from payments.tests.support import post_webhook, signed_event, start_checkout, success_event_for
from subscriptions.models import Subscription
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkout(owner, pro) -> Payment:
    """A pending sandbox checkout payment of a pro subscription's first invoice."""
    data = start_checkout(owner, pro)
    return Payment.objects.select_related("invoice__subscription").get(pk=data["session_id"])


def state_of(payment: Payment) -> tuple:
    """(payment status, invoice status, subscription status) as stored now."""
    payment.refresh_from_db()
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    subscription = Subscription.objects.get(pk=invoice.subscription_id)
    return payment.status, invoice.status, subscription.status


UNTOUCHED = ("pending", "open", "incomplete")
PAID = ("succeeded", "paid", "active")


def test_a_signed_success_event_is_acknowledged(checkout):
    response = post_webhook(*success_event_for(checkout))

    assert response.status_code == 200
    assert response.json() == {"received": True}


def test_a_signed_success_event_pays_the_invoice_and_activates_the_subscription(checkout):
    post_webhook(*success_event_for(checkout))

    assert state_of(checkout) == PAID
    assert Subscription.objects.get(pk=checkout.invoice.subscription_id).payment_method == "pm_sandbox_ok"


def test_a_processed_event_is_stored_with_its_payload(checkout):
    body, signature = success_event_for(checkout)

    post_webhook(body, signature)

    inbound = InboundEvent.objects.get()
    payload = json.loads(body)
    assert (inbound.gateway, inbound.event_id, inbound.event_type) == ("sandbox", payload["id"], "payment.succeeded")
    assert inbound.payload == payload
    assert (inbound.outcome, inbound.attempts, inbound.error) == ("processed", 1, "")
    assert inbound.processed_at is not None


def test_a_signed_failure_event_marks_the_payment_failed(checkout):
    body, signature = signed_event(
        "payment.failed", payment_reference=checkout.reference, failure_reason="card_declined: nope"
    )

    assert post_webhook(body, signature).status_code == 200

    assert state_of(checkout) == ("failed", "open", "incomplete")
    assert checkout.failure_reason == "card_declined: nope"


def test_a_success_after_a_failure_still_pays(checkout):
    post_webhook(*signed_event("payment.failed", payment_reference=checkout.reference))

    post_webhook(*success_event_for(checkout))

    assert state_of(checkout) == PAID


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, sig: (body, None), id="missing"),
        pytest.param(lambda body, sig: (body, ""), id="empty"),
        pytest.param(lambda body, sig: (body, sig[:-1] + ("0" if sig[-1] != "0" else "1")), id="wrong-digest"),
        pytest.param(lambda body, sig: (body.replace(b'"amount_cents": 2999', b'"amount_cents": 1'), sig), id="body"),
        pytest.param(lambda body, sig: (body, "v1=" + sig.split("v1=")[1]), id="no-timestamp"),
        pytest.param(lambda body, sig: (body, "t=abc," + sig.split(",")[1]), id="bad-timestamp"),
        pytest.param(lambda body, sig: (body, sandbox.sign(body).replace("v1=", "v0=")), id="wrong-scheme"),
    ],
)
def test_a_bad_signature_is_400_and_stores_nothing(checkout, tamper):
    body, signature = tamper(*success_event_for(checkout))

    response = post_webhook(body, signature)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "invalid_signature"
    assert InboundEvent.objects.count() == 0
    assert state_of(checkout) == UNTOUCHED


def test_a_body_signed_with_another_secret_is_400(checkout):
    body, _ = success_event_for(checkout)
    with override_settings(SECRET_KEY="another-secret-key-of-some-other-deployment-0123456789"):
        forged = sandbox.sign(body)

    assert post_webhook(body, forged).status_code == 400
    assert InboundEvent.objects.count() == 0


def test_a_timestamp_older_than_300_seconds_is_400(checkout):
    body, signature = success_event_for(checkout, timestamp=int(time.time()) - 301)

    response = post_webhook(body, signature)

    assert response.status_code == 400
    assert "300 s" in response.json()["error"]["message"]
    assert InboundEvent.objects.count() == 0
    assert state_of(checkout) == UNTOUCHED


def test_a_timestamp_from_the_future_beyond_the_tolerance_is_400(checkout, time_machine):
    time_machine.move_to(int(time.time()), tick=False)  # one second over, however slow the run
    body, signature = success_event_for(checkout, timestamp=int(time.time()) + 301)

    assert post_webhook(body, signature).status_code == 400
    assert InboundEvent.objects.count() == 0


def test_a_timestamp_within_the_tolerance_is_accepted(checkout):
    body, signature = success_event_for(checkout, timestamp=int(time.time()) - 250)

    assert post_webhook(body, signature).status_code == 200
    assert state_of(checkout) == PAID


def test_a_signed_body_that_is_not_json_is_400(checkout):
    body = b"not json"

    response = post_webhook(body, sandbox.sign(body))

    assert response.status_code == 400
    assert InboundEvent.objects.count() == 0


def test_a_signed_json_body_that_is_not_an_event_is_400(checkout):
    body = json.dumps({"type": "payment.succeeded"}).encode()  # no id

    assert post_webhook(body, sandbox.sign(body)).status_code == 400
    assert InboundEvent.objects.count() == 0


def test_a_replayed_event_is_200_and_changes_nothing(checkout):
    body, signature = success_event_for(checkout)
    post_webhook(body, signature)
    checkout.refresh_from_db()
    paid_at = Invoice.objects.get(pk=checkout.invoice_id).paid_at

    replay = post_webhook(body, signature)

    assert replay.status_code == 200
    assert replay.json() == {"received": True}
    assert InboundEvent.objects.count() == 1
    assert InboundEvent.objects.get().attempts == 1
    assert state_of(checkout) == PAID
    assert Invoice.objects.get(pk=checkout.invoice_id).paid_at == paid_at


def test_a_replayed_failure_after_the_success_changes_nothing(checkout):
    failed = signed_event("payment.failed", payment_reference=checkout.reference)
    post_webhook(*success_event_for(checkout))

    post_webhook(*failed)

    assert state_of(checkout) == PAID
    assert InboundEvent.objects.get(event_type="payment.failed").outcome == "ignored"


def test_an_event_for_an_unknown_payment_is_200_and_stored_as_ignored(checkout):
    body, signature = signed_event("payment.succeeded", payment_reference="sbx_cs_nobody", amount_cents=2999)

    response = post_webhook(body, signature)

    assert response.status_code == 200
    assert response.json() == {"received": True}
    inbound = InboundEvent.objects.get()
    assert (inbound.outcome, inbound.error) == ("ignored", "")
    assert state_of(checkout) == UNTOUCHED


def test_an_event_of_an_unknown_type_is_stored_as_ignored(checkout):
    body, signature = signed_event("customer.updated", payment_reference=checkout.reference)

    assert post_webhook(body, signature).status_code == 200

    assert InboundEvent.objects.get().outcome == "ignored"
    assert state_of(checkout) == UNTOUCHED


def test_an_event_whose_processing_raises_is_500_and_stored_as_failed(checkout, monkeypatch):
    import billing.services

    real_apply = billing.services.gateway_event_apply

    def apply_then_crash(**kwargs):
        real_apply(**kwargs)  # writes the payment, the invoice and the subscription...
        raise RuntimeError("ledger unavailable")  # ...then fails

    monkeypatch.setattr(billing.services, "gateway_event_apply", apply_then_crash)

    response = post_webhook(*success_event_for(checkout))

    assert response.status_code == 500
    assert response.json()["received"] is False
    inbound = InboundEvent.objects.get()
    assert inbound.outcome == "failed"
    assert inbound.error == "RuntimeError: ledger unavailable"
    assert (inbound.attempts, inbound.processed_at) == (1, None)
    assert state_of(checkout) == UNTOUCHED  # nothing half-written


def test_a_failed_event_is_processed_when_the_gateway_redelivers_it(checkout, monkeypatch):
    import billing.services

    body, signature = success_event_for(checkout)
    with monkeypatch.context() as patch:
        patch.setattr(billing.services, "gateway_event_apply", _crash)
        assert post_webhook(body, signature).status_code == 500

    redelivery = post_webhook(body, signature)

    assert redelivery.status_code == 200
    inbound = InboundEvent.objects.get()
    assert (inbound.outcome, inbound.attempts, inbound.error) == ("processed", 2, "")
    assert state_of(checkout) == PAID


def _crash(**kwargs):
    raise RuntimeError("ledger unavailable")


@pytest.mark.parametrize("gateway", ["paypal", "stripe-like", "unknown"])
def test_an_unknown_gateway_is_404_and_stores_nothing(checkout, gateway):
    body, signature = success_event_for(checkout)

    response = post_webhook(body, signature, gateway=gateway)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert InboundEvent.objects.count() == 0
    assert state_of(checkout) == UNTOUCHED


def test_only_post_is_allowed(client):
    assert client.get("/webhooks/sandbox").status_code == 405
    assert InboundEvent.objects.count() == 0


def test_the_webhook_needs_no_session_or_csrf_token(checkout):
    from django.test import Client

    body, signature = success_event_for(checkout)
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(
        "/webhooks/sandbox", data=body, content_type="application/json", HTTP_X_SANDBOX_SIGNATURE=signature
    )

    assert response.status_code == 200
