"""Stripe as a gateway, end to end against the fake Stripe API (payments/tests/fake_stripe.py):
checkout -> signed webhooks -> subscription active; off-session renewals; refunds;
disputes; the portal; payment methods; failures; replays and shuffled deliveries."""

from __future__ import annotations

import itertools
import time

import pytest
from django.core.management import call_command
from django.test import Client

from billing.services import invoice_collect, payment_refund
from invoices.models import Invoice
from payments.gateways.base import EventType
from payments.gateways.stripe_events import normalize
from payments.models import Dispute, Payment, Refund
from webhooks.models import InboundEvent

from .fake_stripe import FAKE_WEBHOOK_SECRET, sign_event
from .support import CHECKOUT, assert_error, assert_ok, start_checkout, subscribe

pytestmark = pytest.mark.django_db


def deliver(payload: dict, *, secret: str = FAKE_WEBHOOK_SECRET, timestamp: int | None = None):
    body, signature = sign_event(payload, secret, timestamp)
    return Client().post(
        "/webhooks/stripe", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def deliver_all(events: list[dict]) -> None:
    for event in events:
        response = deliver(event)
        assert response.status_code == 200, (event["type"], response.content)
        assert response.json() == {"received": True}


def stripe_checkout(owner, pro) -> tuple[dict, Payment]:
    data = start_checkout(owner, pro, gateway="stripe")
    return data, Payment.objects.get(pk=data["session_id"])


def final_state(payment: Payment) -> dict:
    payment.refresh_from_db()
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    subscription = invoice.subscription
    subscription.refresh_from_db()
    return {
        "payment": payment.status,
        "invoice": invoice.status,
        "subscription": subscription.status,
        "card": bool(subscription.payment_method),
        "gateway": subscription.gateway,
    }


# --- checkout ---------------------------------------------------------------------------


def test_checkout_with_stripe_opens_a_checkout_session_for_the_first_invoice(stripe_ready, owner, pro):
    data, payment = stripe_checkout(owner, pro)

    assert data["checkout_url"].startswith("https://checkout.stripe.com/")
    session = stripe_ready.get(payment.reference)
    assert session["object"] == "checkout.session"
    assert session["mode"] == "payment"
    assert session["amount_total"] == 2999
    assert session["metadata"]["invoice_id"] == str(payment.invoice_id)
    intent_data = stripe_ready.calls("POST", "/v1/checkout/sessions")[0].params["payment_intent_data"]
    assert intent_data["setup_future_usage"] == "off_session"


def test_the_customer_is_created_once_per_organization(stripe_ready, owner, pro, team_plan):
    stripe_checkout(owner, pro)
    stripe_checkout(owner, pro)  # replaces the abandoned first checkout

    assert len(stripe_ready.calls("POST", "/v1/customers")) == 1


def test_paying_at_stripe_activates_the_subscription_and_pays_the_invoice(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)

    deliver_all(stripe_ready.complete_checkout(payment.reference))

    assert final_state(payment) == {
        "payment": "succeeded",
        "invoice": "paid",
        "subscription": "active",
        "card": True,
        "gateway": "stripe",
    }


def test_any_order_of_the_events_reaches_the_same_state(stripe_ready, owner, pro):
    """A property over all orders of one checkout's events (payment_intent.succeeded before
    checkout.session.completed, the card attached first, ...)."""
    _, payment = stripe_checkout(owner, pro)
    events = stripe_ready.complete_checkout(payment.reference)
    expected = {"payment": "succeeded", "invoice": "paid", "subscription": "active", "card": True, "gateway": "stripe"}
    for order in itertools.permutations(events):
        from django.db import transaction

        with transaction.atomic():
            sid = transaction.savepoint()
            deliver_all(list(order))
            assert final_state(payment) == expected, [event["type"] for event in order]
            transaction.savepoint_rollback(sid)


def test_a_replayed_event_is_acknowledged_and_changes_nothing(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    events = stripe_ready.complete_checkout(payment.reference)
    deliver_all(events)
    before = (final_state(payment), InboundEvent.objects.count(), Payment.objects.count())

    deliver_all(events)

    assert (final_state(payment), InboundEvent.objects.count(), Payment.objects.count()) == before


def test_a_declined_checkout_leaves_the_subscription_incomplete(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)

    deliver_all(stripe_ready.complete_checkout(payment.reference, payment_method="pm_card_chargeDeclined"))

    state = final_state(payment)
    assert state["subscription"] == "incomplete"
    assert state["invoice"] == "open"


# --- signatures ----------------------------------------------------------------------------


def test_a_bad_signature_is_refused_and_nothing_is_processed(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    event = stripe_ready.complete_checkout(payment.reference)[0]

    response = deliver(event, secret="whsec_wrong")

    assert_error(response, 400, "invalid_signature")
    assert InboundEvent.objects.count() == 0
    assert final_state(payment)["invoice"] == "open"


def test_a_missing_signature_is_refused(stripe_ready):
    response = Client().post("/webhooks/stripe", data=b"{}", content_type="application/json")
    assert_error(response, 400, "invalid_signature")


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_signature_more_than_300_seconds_away_is_refused(stripe_ready, owner, pro, offset):
    _, payment = stripe_checkout(owner, pro)
    event = stripe_ready.complete_checkout(payment.reference)[0]

    response = deliver(event, timestamp=int(time.time()) + offset)

    assert_error(response, 400, "invalid_signature")
    assert final_state(payment)["invoice"] == "open"


def test_webhooks_are_refused_until_stripe_is_set_up(fake_stripe):
    response = deliver({"id": "evt_1", "object": "event", "type": "ping", "data": {"object": {}}})
    assert_error(response, 400, "not_configured")


def test_a_handler_that_raises_leaves_nothing_and_the_redelivery_succeeds(stripe_ready, owner, pro, monkeypatch):
    _, payment = stripe_checkout(owner, pro)
    events = stripe_ready.complete_checkout(payment.reference)
    import billing.services as services

    real = services._payment_succeeded

    def boom(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "_payment_succeeded", boom)
    response = deliver(events[0])
    assert response.status_code == 500
    assert final_state(payment)["invoice"] == "open"
    assert InboundEvent.objects.count() == 0  # rolled back with dj-stripe's event

    monkeypatch.setattr(services, "_payment_succeeded", real)
    deliver_all(events)
    assert final_state(payment)["subscription"] == "active"


# --- renewals, refunds, disputes, portal, payment methods -------------------------------------


def _renewal(org, pro, payment_method: str):
    subscription = subscribe(org, pro, payment_method="")
    subscription.gateway = "stripe"
    subscription.payment_method = payment_method
    subscription.save()
    from invoices.builder import period_invoice
    from invoices.services import invoice_create

    return invoice_create(draft=period_invoice(subscription))


def test_a_renewal_is_charged_off_session_to_the_saved_card(stripe_ready, org, pro):
    invoice = _renewal(org, pro, "pm_card_visa")

    payment = invoice_collect(invoice=invoice)

    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert payment.reference.startswith("pi_")
    intent = stripe_ready.calls("POST", "/v1/payment_intents")[0].params
    assert intent["off_session"] in (True, "true") and intent["confirm"] in (True, "true")
    # the webhook arriving afterwards changes nothing
    deliver_all(stripe_ready.take_events("payment_intent.succeeded"))
    invoice.refresh_from_db()
    assert invoice.amount_paid_cents == invoice.total_cents


def test_a_declined_renewal_is_recorded_and_retried_later(stripe_ready, org, pro):
    invoice = _renewal(org, pro, "pm_card_chargeDeclined")

    payment = invoice_collect(invoice=invoice)

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == "failed"
    assert "card_declined" in payment.failure_reason
    assert invoice.status == "open"
    assert invoice.next_payment_attempt is not None


def test_a_renewal_charged_at_once_stores_no_inbound_event_and_its_webhook_changes_nothing(stripe_ready, org, pro):
    invoice = _renewal(org, pro, "pm_card_visa")
    payment = invoice_collect(invoice=invoice)
    invoice.refresh_from_db()
    assert (invoice.status, InboundEvent.objects.count()) == ("paid", 0)  # applied by the use case
    before = (invoice.amount_paid_cents, invoice.paid_at, payment.succeeded_at)

    deliver_all(stripe_ready.take_events("payment_intent.succeeded"))

    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.amount_paid_cents, invoice.paid_at, payment.succeeded_at) == before
    assert set(InboundEvent.objects.values_list("outcome", flat=True)) == {"ignored"}


def test_a_renewal_declined_at_once_stores_no_inbound_event_and_its_webhook_changes_nothing(stripe_ready, org, pro):
    invoice = _renewal(org, pro, "pm_card_chargeDeclined")
    payment = invoice_collect(invoice=invoice)
    payment.refresh_from_db()
    assert (payment.status, InboundEvent.objects.count()) == ("failed", 0)
    reason = payment.failure_reason

    deliver_all(stripe_ready.take_events("payment_intent.payment_failed"))

    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == ("failed", reason)
    assert set(InboundEvent.objects.values_list("outcome", flat=True)) == {"ignored"}


def test_a_refund_goes_through_stripe_and_is_settled_by_its_webhook(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    deliver_all(stripe_ready.complete_checkout(payment.reference))
    payment.refresh_from_db()
    payment.reference = Invoice.objects.get(pk=payment.invoice_id).payments.get(pk=payment.pk).reference
    intent_id = stripe_ready.get(payment.reference)["payment_intent"]
    payment.reference = intent_id
    payment.save()

    refund = payment_refund(payment=payment, amount_cents=1000, reason="goodwill")
    deliver_all(stripe_ready.take_events("charge.refunded"))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.reference.startswith("re_")
    assert refund.status == "succeeded"
    assert payment.status == "partially_refunded"
    assert Refund.objects.filter(payment=payment).count() == 1


def test_a_dispute_is_recorded_against_its_invoice_and_shown(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    deliver_all(stripe_ready.complete_checkout(payment.reference))
    intent = stripe_ready.get(stripe_ready.get(payment.reference)["payment_intent"])
    payment.reference = intent["id"]
    payment.save()

    deliver_all(
        [e for e in stripe_ready.open_dispute(intent["latest_charge"]) if e["type"] == "charge.dispute.created"]
    )

    dispute = Dispute.objects.get()
    assert dispute.invoice_id == payment.invoice_id
    assert dispute.status == "open"
    overview = assert_ok(owner.get("/api/v1/billing/overview"))
    assert overview["disputes"][0]["status"] == "open"
    deliver_all(
        [e for e in stripe_ready.close_dispute(dispute.reference, status="won") if e["type"] == "charge.dispute.closed"]
    )
    dispute.refresh_from_db()
    assert dispute.status == "won"


def test_a_dispute_event_names_the_dispute_and_its_reason_in_their_own_fields(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    deliver_all(stripe_ready.complete_checkout(payment.reference))
    intent = stripe_ready.get(stripe_ready.get(payment.reference)["payment_intent"])
    opened = next(
        e for e in stripe_ready.open_dispute(intent["latest_charge"]) if e["type"] == "charge.dispute.created"
    )

    (event,) = normalize(opened)

    dispute = opened["data"]["object"]
    assert (event.type, event.dispute_reference, event.dispute_reason) == (
        EventType.DISPUTE_OPENED,
        dispute["id"],
        dispute["reason"],
    )
    assert (event.payment_reference, event.refund_reference, event.failure_reason) == (intent["id"], "", "")


def test_a_payment_method_event_names_its_customer_in_customer_reference():
    payload = {
        "id": "evt_pm_1",
        "type": "payment_method.attached",
        "data": {"object": {"id": "pm_1", "object": "payment_method", "customer": "cus_1"}},
    }

    (event,) = normalize(payload)

    assert (event.type, event.payment_method, event.customer_reference, event.payment_reference) == (
        EventType.PAYMENT_METHOD_ATTACHED,
        "pm_1",
        "cus_1",
        "",
    )


def test_the_billing_portal_is_stripes(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    deliver_all(stripe_ready.complete_checkout(payment.reference))

    data = assert_ok(
        owner.post("/api/v1/billing/portal", {"return_url": "http://localhost:3000/billing"}, format="json")
    )

    assert data["portal_url"].startswith("https://billing.stripe.com/")


def test_changing_the_payment_method_attaches_it_and_makes_it_the_default(stripe_ready, owner, pro):
    _, payment = stripe_checkout(owner, pro)
    deliver_all(stripe_ready.complete_checkout(payment.reference))

    assert_ok(
        owner.put("/api/v1/subscriptions/payment-method", {"payment_method_id": "pm_card_mastercard"}, format="json")
    )

    assert stripe_ready.calls("POST", "/v1/payment_methods/pm_card_mastercard/attach")
    customer = stripe_ready.objects("customer")[0]
    assert stripe_ready.get(customer["id"])["invoice_settings"]["default_payment_method"]


# --- configuration and failures --------------------------------------------------------------


def test_checkout_with_stripe_without_keys_is_a_clear_400(owner, pro, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = owner.post(
        CHECKOUT,
        {
            "plan_id": str(pro.pk),
            "success_url": "http://localhost/s",
            "cancel_url": "http://localhost/c",
            "gateway": "stripe",
        },
        format="json",
    )
    error = assert_error(response, 400, "validation_error")
    assert "not configured" in error["message"]


def test_health_says_whether_stripe_is_configured(client, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert client.get("/health/detailed").json()["data"]["gateways"]["stripe"] == "not configured"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    assert client.get("/health/detailed").json()["data"]["gateways"]["stripe"] == "configured"


@pytest.mark.parametrize("status", [500, 400])
def test_stripe_failing_is_a_502_and_leaves_nothing_half_made(stripe_ready, owner, pro, status):
    from subscriptions.models import Subscription

    stripe_ready.fail_next("/v1/checkout/sessions", status=status)

    response = owner.post(
        CHECKOUT,
        {
            "plan_id": str(pro.pk),
            "success_url": "http://localhost/s",
            "cancel_url": "http://localhost/c",
            "gateway": "stripe",
        },
        format="json",
    )

    assert_error(response, 502, "gateway_error")
    assert Subscription.objects.count() == 0
    assert Invoice.objects.count() == 0
    assert Payment.objects.count() == 0


def test_stripe_setup_is_idempotent(fake_stripe):
    from djstripe.models import APIKey, WebhookEndpoint

    call_command("stripe_setup", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("stripe_setup", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert APIKey.objects.count() == 2
    assert WebhookEndpoint.objects.count() == 1
    assert WebhookEndpoint.objects.get().secret == FAKE_WEBHOOK_SECRET


def test_stripe_timing_out_is_a_502_and_leaves_nothing_half_made(stripe_ready, owner, pro, settings, monkeypatch):
    """(With the stripe library's retries, a late answer is usually recovered by the
    idempotent retry; here every attempt times out.)"""
    import stripe as stripe_lib

    from subscriptions.models import Subscription

    monkeypatch.setattr(stripe_lib, "max_network_retries", 0)
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    stripe_ready.delay_next("/v1/checkout/sessions", 3)

    response = owner.post(
        CHECKOUT,
        {
            "plan_id": str(pro.pk),
            "success_url": "http://localhost/s",
            "cancel_url": "http://localhost/c",
            "gateway": "stripe",
        },
        format="json",
    )

    assert_error(response, 502, "gateway_error")
    assert Subscription.objects.count() == Invoice.objects.count() == Payment.objects.count() == 0


def test_a_card_detached_at_stripe_is_no_longer_charged(stripe_ready, owner, pro):
    import stripe as stripe_lib

    _, payment = stripe_checkout(owner, pro)
    deliver_all(stripe_ready.complete_checkout(payment.reference))
    subscription = Invoice.objects.get(pk=payment.invoice_id).subscription
    subscription.refresh_from_db()
    card = subscription.payment_method
    assert card

    stripe_lib.PaymentMethod.detach(card, api_key=stripe_ready_key(stripe_ready))
    deliver_all(stripe_ready.take_events("payment_method.detached"))

    subscription.refresh_from_db()
    assert subscription.payment_method == ""


def stripe_ready_key(fake) -> str:
    from .fake_stripe import FAKE_SECRET_KEY

    return FAKE_SECRET_KEY
