"""Self-test of the fake Stripe server (payments.tests.fake_stripe): the calls this
project makes, and the controls its tests script outcomes with.

Everything goes through the real `stripe` library (and, for the sync tests, through
dj-stripe's models and event handlers, as the webhooks use them) over HTTP to the fake
on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import stripe
from django.conf import settings as django_settings

from payments.gateways.stripe_events import HANDLED
from payments.tests.fake_stripe import (
    API_VERSION,
    FAKE_ACCOUNT_ID,
    FAKE_PUBLISHABLE_KEY,
    FAKE_SECRET_KEY,
    FAKE_WEBHOOK_SECRET,
    FakeStripe,
    parse_stripe_form,
    sign_event,
)

SUCCESS_URL = "http://localhost:3000/billing/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://localhost:3000/billing/cancel"
EVENT_KEYS = {"id", "object", "api_version", "created", "data", "livemode", "pending_webhooks", "request", "type"}


def new_customer(email: str = "billing@dialtone.example", **extra) -> stripe.Customer:
    return stripe.Customer.create(email=email, name="Dial Tone Ltd", metadata={"organization_id": "17"}, **extra)


def new_checkout(customer_id: str, **extra) -> stripe.checkout.Session:
    params = {
        "mode": "payment",
        "customer": customer_id,
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "line_items": [
            {
                "quantity": 2,
                "price_data": {"currency": "usd", "unit_amount": 1500, "product_data": {"name": "Pro plan"}},
            },
            {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 499, "product_data": {"name": "Seat"}}},
        ],
        "metadata": {"invoice_id": "inv_1", "payment_id": "pay_1"},
        "payment_intent_data": {
            "setup_future_usage": "off_session",
            "metadata": {"invoice_id": "inv_1", "payment_id": "pay_1"},
        },
        **extra,
    }
    return stripe.checkout.Session.create(**params)


def saved_card(fake: FakeStripe, customer_id: str, token: str = "pm_card_visa") -> str:
    """A card saved through Checkout, as production gets one."""
    session = new_checkout(customer_id)
    events = fake.complete_checkout(session.id, payment_method=token)
    attached = [event for event in events if event["type"] == "payment_method.attached"]
    return attached[0]["data"]["object"]["id"]


def raw(fake: FakeStripe, path: str, *, key: str | None = FAKE_SECRET_KEY) -> tuple[int, dict]:
    """A GET without the stripe library: (status, json)."""
    request = urllib.request.Request(fake.url + path)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- wire format ---------------------------------------------------------------------------


def test_form_parser_reads_stripe_bracket_syntax():
    parsed = parse_stripe_form(
        [
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "1500"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][quantity]", "1"),
            ("metadata[invoice_id]", "inv_1"),
            ("metadata[0]", "digits stay a key"),
            ("expand[]", "latest_charge"),
            ("expand[]", "customer"),
            ("payment_intent_data[metadata][payment_id]", "pay_1"),
            ("off_session", "true"),
        ]
    )
    assert parsed == {
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": "1500"}, "quantity": "2"}, {"quantity": "1"}],
        "metadata": {"invoice_id": "inv_1", "0": "digits stay a key"},
        "expand": ["latest_charge", "customer"],
        "payment_intent_data": {"metadata": {"payment_id": "pay_1"}},
        "off_session": "true",
    }
    assert parse_stripe_form([("expand[0]", "a"), ("expand[1]", "b")]) == {"expand": ["a", "b"]}
    with pytest.raises(ValueError):
        parse_stripe_form([("a", "1"), ("a[b]", "2")])


def test_fixture_points_the_library_and_settings_at_the_fake(fake_stripe):
    assert fake_stripe.url.startswith("http://127.0.0.1:")
    assert stripe.api_base == fake_stripe.url
    assert fake_stripe.url == django_settings.STRIPE_API_HOST
    assert django_settings.STRIPE_SECRET_KEY == FAKE_SECRET_KEY
    assert django_settings.STRIPE_PUBLISHABLE_KEY == django_settings.STRIPE_PUBLIC_KEY == FAKE_PUBLISHABLE_KEY
    assert django_settings.STRIPE_WEBHOOK_SECRET == FAKE_WEBHOOK_SECRET
    account = stripe.Account.retrieve()
    assert account.id == FAKE_ACCOUNT_ID
    assert account.object == "account"
    assert account.charges_enabled is True


def test_authentication(fake_stripe):
    status, body = raw(fake_stripe, "/v1/account", key=None)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in body["error"]["message"]

    with pytest.raises(stripe.AuthenticationError) as caught:
        stripe.Customer.create(email="x@example.com", api_key="pk_test_notasecretkey")
    assert caught.value.http_status == 401
    assert caught.value.error.type == "invalid_request_error"

    live = stripe.Customer.create(email="live@example.com", api_key="sk_live_anything")
    assert live.livemode is True
    assert new_customer().livemode is False


def test_unknown_paths_and_missing_objects_are_404_resource_missing(fake_stripe):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Invoice.retrieve("in_123")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert fake_stripe.unhandled == [("GET", "/v1/invoices/in_123")]
    with pytest.raises(AssertionError):
        fake_stripe.assert_all_handled()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.retrieve("pi_missing")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.error.param == "id"
    assert "No such payment_intent: 'pi_missing'" in str(caught.value)
    assert fake_stripe.unhandled == [("GET", "/v1/invoices/in_123")]  # a known path: not "unhandled"

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.create(email="x@example.com", favourite_colour="blue")
    assert caught.value.http_status == 400
    assert caught.value.code == "parameter_unknown"
    assert caught.value.param == "favourite_colour"
    assert fake_stripe.unhandled[-1] == ("POST", "/v1/customers favourite_colour=")

    with pytest.raises(stripe.InvalidRequestError):  # this project only confirms off-session at once
        stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method="pm_card_visa")
    assert fake_stripe.unhandled[-1] == ("POST", "/v1/payment_intents without confirm=true&off_session=true")


# --- customers --------------------------------------------------------------------------------


def test_customers_create_and_update(fake_stripe):
    customer = new_customer()
    assert customer.id.startswith("cus_")
    assert customer.object == "customer"
    assert customer.email == "billing@dialtone.example"
    assert customer.metadata.to_dict() == {"organization_id": "17"}
    assert customer.invoice_settings.default_payment_method is None
    assert isinstance(customer.created, int)
    assert customer.livemode is False

    updated = stripe.Customer.modify(
        customer.id, email="new@dialtone.example", metadata={"organization_id": "", "plan": "pro"}
    )
    assert updated.email == "new@dialtone.example"
    assert updated.metadata.to_dict() == {"plan": "pro"}
    assert fake_stripe.get(customer.id)["email"] == "new@dialtone.example"

    types = [event["type"] for event in fake_stripe.take_events()]
    assert types == ["customer.created", "customer.updated"]
    updated_event = fake_stripe.events[1]
    assert updated_event["data"]["previous_attributes"]["email"] == "billing@dialtone.example"
    assert updated_event["request"]["id"].startswith("req_")
    assert updated_event["request"]["idempotency_key"]  # the library sends one with every POST


# --- checkout -----------------------------------------------------------------------------------


def test_checkout_session_create_and_retrieve(fake_stripe):
    customer = new_customer()
    session = new_checkout(customer.id)
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.url == f"https://checkout.stripe.com/c/pay/{session.id}"
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.amount_total == 2 * 1500 + 499
    assert session.currency == "usd"
    assert session.customer == customer.id
    assert session.payment_intent is None
    assert session.success_url == SUCCESS_URL  # the template stays as given
    assert session.metadata.to_dict() == {"invoice_id": "inv_1", "payment_id": "pay_1"}

    sent = fake_stripe.calls("POST", "/v1/checkout/sessions")[0].params
    assert sent["line_items"][0]["price_data"]["currency"] == "usd"
    assert sent["payment_intent_data"] == {
        "setup_future_usage": "off_session",
        "metadata": {"invoice_id": "inv_1", "payment_id": "pay_1"},
    }

    # As dj-stripe retrieves it when it syncs the session of a webhook.
    fetched = stripe.checkout.Session.retrieve(
        session.id, expand=["line_items", "total_details.breakdown", "line_items.data.discounts"]
    )
    assert [item.description for item in fetched.line_items.data] == ["Pro plan", "Seat"]
    assert fetched.line_items.data[0].amount_total == 3000
    assert fetched.line_items.data[0].price.unit_amount == 1500
    assert fetched.line_items.data[1].quantity == 1
    assert fetched.line_items.data[0].discounts == []
    assert fetched.total_details.breakdown.to_dict() == {"discounts": [], "taxes": []}


def test_checkout_session_validation(fake_stripe):
    customer = new_customer()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_checkout(customer.id, line_items=[{"price_data": {"currency": "usd", "unit_amount": 100}}])
    assert caught.value.code == "parameter_missing"
    assert caught.value.param == "line_items[0][quantity]"

    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_checkout(customer.id, mode="subscription")
    assert caught.value.param == "mode"
    assert fake_stripe.unhandled == [("POST", "/v1/checkout/sessions mode=subscription")]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_checkout(
            customer.id,
            line_items=[
                {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 10, "product_data": {"name": "x"}}}
            ],
        )
    assert caught.value.code == "amount_too_small"

    with pytest.raises(stripe.InvalidRequestError) as caught:
        new_checkout("cus_nobody")
    assert caught.value.http_status == 400
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "customer"


def test_complete_checkout_pays_and_returns_stripe_events(fake_stripe):
    customer = new_customer()
    session = new_checkout(customer.id)

    events = fake_stripe.complete_checkout(session.id)

    assert [event["type"] for event in events] == [
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.succeeded",
        "payment_method.attached",
    ]
    for event in events:
        assert set(event) == EVENT_KEYS
        assert event["id"].startswith("evt_")
        assert event["object"] == "event"
        assert event["api_version"] == API_VERSION
        assert event["livemode"] is False
        assert event["pending_webhooks"] == 1
        assert event["request"] == {"id": None, "idempotency_key": None}

    completed, succeeded, charged, attached = (event["data"]["object"] for event in events)
    assert completed["status"] == "complete"
    assert completed["payment_status"] == "paid"
    assert completed["payment_intent"] == succeeded["id"]
    assert succeeded["status"] == "succeeded"
    assert succeeded["amount"] == succeeded["amount_received"] == 3499
    assert succeeded["metadata"] == {"invoice_id": "inv_1", "payment_id": "pay_1"}
    assert succeeded["latest_charge"] == charged["id"]
    assert succeeded["payment_method"] == attached["id"]
    assert charged["paid"] is True
    assert charged["payment_intent"] == succeeded["id"]
    assert charged["metadata"] == succeeded["metadata"]
    assert attached["id"].startswith("pm_")
    assert attached["id"] != "pm_card_visa"  # the test token became a PaymentMethod of its own
    assert attached["customer"] == customer.id
    assert attached["card"]["last4"] == "4242"

    fetched = stripe.checkout.Session.retrieve(session.id)
    assert fetched.status == "complete"
    assert fetched.payment_intent == succeeded["id"]
    assert stripe.PaymentMethod.retrieve(attached["id"]).customer == customer.id
    with pytest.raises(ValueError):
        fake_stripe.complete_checkout(session.id)


def test_checkout_with_a_declined_card_stays_open_until_paid(fake_stripe):
    session = new_checkout(new_customer().id)

    failed = fake_stripe.complete_checkout(session.id, payment_method="pm_card_chargeDeclined")
    assert [event["type"] for event in failed] == ["payment_intent.payment_failed", "charge.failed"]
    intent = failed[0]["data"]["object"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["decline_code"] == "generic_decline"
    assert stripe.checkout.Session.retrieve(session.id).status == "open"

    paid = fake_stripe.complete_checkout(session.id)
    assert paid[1]["data"]["object"]["id"] == intent["id"]  # the same PaymentIntent, now succeeded
    assert paid[1]["data"]["object"]["status"] == "succeeded"


# --- payment intents and methods -----------------------------------------------------------------


def test_off_session_payment_succeeds(fake_stripe):
    customer = new_customer()
    card = saved_card(fake_stripe, customer.id)
    fake_stripe.take_events()

    intent = stripe.PaymentIntent.create(
        amount=2999,
        currency="usd",
        customer=customer.id,
        payment_method=card,
        off_session=True,
        confirm=True,
        metadata={"invoice_id": "inv_2"},
    )

    assert intent.status == "succeeded"
    assert intent.payment_method == card
    assert intent.amount_received == 2999
    assert intent.metadata.to_dict() == {"invoice_id": "inv_2"}
    charge = stripe.Charge.retrieve(intent.latest_charge, expand=["balance_transaction"])
    assert charge.status == "succeeded"
    assert charge.amount == 2999
    assert charge.customer == customer.id
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.balance_transaction.amount == 2999
    assert charge.balance_transaction.fee == round(2999 * 0.029) + 30
    assert stripe.PaymentIntent.retrieve(intent.id, expand=["latest_charge"]).latest_charge.id == charge.id
    assert [event["type"] for event in fake_stripe.take_events()] == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
    ]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.create(
            amount=10, currency="usd", customer=customer.id, payment_method=card, off_session=True, confirm=True
        )
    assert caught.value.code == "amount_too_small"


def test_test_tokens_succeed_directly(fake_stripe):
    intent = stripe.PaymentIntent.create(
        amount=1000, currency="usd", payment_method="pm_card_visa", off_session=True, confirm=True
    )
    assert intent.status == "succeeded"
    assert intent.payment_method.startswith("pm_")
    assert intent.payment_method != "pm_card_visa"
    assert stripe.PaymentMethod.retrieve(intent.payment_method).card.last4 == "4242"


def test_off_session_decline_raises_card_error_with_the_payment_intent(fake_stripe):
    customer = new_customer()
    with pytest.raises(stripe.CardError) as caught:
        stripe.PaymentIntent.create(
            amount=2999,
            currency="usd",
            customer=customer.id,
            payment_method="pm_card_chargeDeclined",
            off_session=True,
            confirm=True,
            metadata={"invoice_id": "inv_3"},
        )
    error = caught.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.type == "card_error"
    assert error.error.decline_code == "generic_decline"
    assert error.error.message == "Your card was declined."
    intent = error.error.payment_intent
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == "generic_decline"
    assert intent.metadata.to_dict() == {"invoice_id": "inv_3"}
    assert intent.latest_charge == error.error.charge

    assert stripe.PaymentIntent.retrieve(intent.id).status == "requires_payment_method"
    failed_charge = stripe.Charge.retrieve(error.error.charge)
    assert failed_charge.status == "failed"
    assert failed_charge.failure_code == "card_declined"
    assert failed_charge.outcome.type == "issuer_declined"


def test_a_declined_card_cannot_be_attached(fake_stripe):
    customer = new_customer()
    with pytest.raises(stripe.CardError) as caught:
        stripe.PaymentMethod.attach("pm_card_chargeDeclined", customer=customer.id)
    assert caught.value.code == "card_declined"
    assert caught.value.error.decline_code == "generic_decline"


def test_attach_default_and_detach_payment_methods(fake_stripe):
    customer = new_customer()
    visa = stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id)
    master = stripe.PaymentMethod.attach("pm_card_mastercard", customer=customer.id)
    assert visa.customer == master.customer == customer.id
    assert (visa.card.brand, visa.card.last4) == ("visa", "4242")
    assert master.card.last4 == "4444"
    assert {"exp_month", "exp_year"} <= set(visa.card.to_dict())

    updated = stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": visa.id})
    assert updated.invoice_settings.default_payment_method == visa.id

    detached = stripe.PaymentMethod.detach(visa.id)
    assert detached.customer is None
    assert fake_stripe.get(customer.id)["invoice_settings"]["default_payment_method"] is None
    with pytest.raises(stripe.InvalidRequestError):
        stripe.PaymentMethod.detach(visa.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.PaymentIntent.create(
            amount=500, currency="usd", customer=customer.id, payment_method=visa.id, off_session=True, confirm=True
        )
    assert caught.value.param == "payment_method"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": visa.id})
    assert caught.value.param == "invoice_settings[default_payment_method]"

    other = new_customer(email="other@example.com")
    with pytest.raises(stripe.InvalidRequestError):
        stripe.PaymentIntent.create(
            amount=500, currency="usd", customer=other.id, payment_method=master.id, off_session=True, confirm=True
        )
    types = [event["type"] for event in fake_stripe.events]
    assert types.count("payment_method.attached") == 2
    assert "payment_method.detached" in types


# --- refunds, portal, disputes ---------------------------------------------------------------------


def test_refunds_update_the_charge(fake_stripe):
    customer = new_customer()
    card = saved_card(fake_stripe, customer.id)
    intent = stripe.PaymentIntent.create(
        amount=3000, currency="usd", customer=customer.id, payment_method=card, off_session=True, confirm=True
    )
    fake_stripe.take_events()

    partial = stripe.Refund.create(payment_intent=intent.id, amount=1000, metadata={"refund_id": "r1"})
    assert partial.status == "succeeded"
    assert partial.amount == 1000
    assert partial.charge == intent.latest_charge
    assert partial.payment_intent == intent.id
    assert partial.metadata.to_dict() == {"refund_id": "r1"}
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Refund.create(payment_intent=intent.id, amount=2500)
    assert caught.value.param == "amount"

    rest = stripe.Refund.create(payment_intent=intent.id, amount=2000)
    assert rest.amount == 2000
    charge = stripe.Charge.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (3000, True)
    assert [refund.id for refund in charge.refunds.data] == [rest.id, partial.id]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Refund.create(payment_intent=intent.id, amount=1)
    assert caught.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError) as caught:  # what refund() sends for a non-pi_ reference
        stripe.Refund.create(amount=1)
    assert caught.value.param == "charge"
    assert [event["type"] for event in fake_stripe.take_events()] == [
        "charge.refunded",
        "refund.created",
        "charge.refunded",
        "refund.created",
    ]


def test_billing_portal_session(fake_stripe):
    customer = new_customer()
    portal = stripe.billing_portal.Session.create(customer=customer.id, return_url="http://localhost:3000/settings")
    assert portal.object == "billing_portal.session"
    assert portal.url == f"https://billing.stripe.com/p/session/{portal.id}"
    assert portal.customer == customer.id
    assert portal.return_url == "http://localhost:3000/settings"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.billing_portal.Session.create(return_url="http://localhost:3000/settings")
    assert caught.value.code == "parameter_missing"


def test_disputes(fake_stripe):
    customer = new_customer()
    events = fake_stripe.complete_checkout(new_checkout(customer.id).id)
    charge_id = events[2]["data"]["object"]["id"]

    opened = fake_stripe.open_dispute(charge_id)
    assert [event["type"] for event in opened] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    dispute = stripe.Dispute.retrieve(opened[0]["data"]["object"]["id"])
    assert dispute.status == "needs_response"
    assert dispute.reason == "fraudulent"
    assert dispute.charge == charge_id
    assert dispute.amount == 3499
    assert dispute.balance_transactions[0].amount == -3499
    assert stripe.Charge.retrieve(charge_id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe.Refund.create(payment_intent=events[1]["data"]["object"]["id"], amount=100)
    assert caught.value.code == "charge_disputed"

    closed = fake_stripe.close_dispute(dispute.id, status="won")
    assert [event["type"] for event in closed] == ["charge.dispute.closed", "charge.dispute.funds_reinstated"]
    assert closed[0]["data"]["previous_attributes"] == {"status": "needs_response"}
    assert stripe.Dispute.retrieve(dispute.id).status == "won"


# --- robustness: failures, delays, idempotency, concurrency ----------------------------------------------


def test_fail_next_answers_one_request_with_an_api_error(fake_stripe):
    fake_stripe.fail_next("/v1/customers")
    with pytest.raises(stripe.APIError) as caught:
        new_customer()
    assert caught.value.http_status == 500
    assert caught.value.error.type == "api_error"
    assert len(fake_stripe.calls("POST", "/v1/customers")) == 1  # Stripe-Should-Retry: false: no retry
    assert fake_stripe.objects("customer") == []
    assert new_customer().id.startswith("cus_")

    fake_stripe.fail_next("/v1/customers", status=503, should_retry=True)
    assert new_customer().id.startswith("cus_")  # the library retried with the same idempotency key
    retried = fake_stripe.calls("POST", "/v1/customers")[-2:]
    assert [request.status for request in retried] == [503, 200]
    assert retried[0].headers["idempotency-key"] == retried[1].headers["idempotency-key"]

    fake_stripe.fail_next("/v1/payment_intents", status=402, method="POST", code="card_declined")
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.create(amount=700, currency="usd", payment_method="pm_card_visa", confirm=True)


def test_delay_next_makes_the_client_time_out_after_stripe_acted(fake_stripe):
    impatient = fake_stripe.client(http_client=stripe.RequestsClient(timeout=0.3), max_network_retries=0)
    fake_stripe.delay_next("/v1/payment_intents", 1.0)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "off_session": True,
            }
        )
    (intent,) = fake_stripe.objects("payment_intent")
    assert intent["status"] == "succeeded"  # Stripe charged; only the answer was lost

    retrying = fake_stripe.client(http_client=stripe.RequestsClient(timeout=0.3), max_network_retries=2)
    fake_stripe.delay_next("/v1/payment_intents", 1.0)
    replayed = retrying.v1.payment_intents.create(
        params={
            "amount": 950,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "off_session": True,
        }
    )
    assert len(fake_stripe.objects("payment_intent")) == 2  # the retry was an idempotent replay
    assert replayed.id == fake_stripe.objects("payment_intent")[-1]["id"]

    fake_stripe.delay_next("/v1/customers", 0.6, drop=True)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.customers.create(params={"email": "lost@example.com"})
    assert fake_stripe.objects("customer") == []


def test_idempotency_keys_replay_and_reject_other_parameters(fake_stripe):
    first = stripe.Customer.create(email="same@example.com", idempotency_key="create-org-17")
    again = stripe.Customer.create(email="same@example.com", idempotency_key="create-org-17")
    assert again.id == first.id
    assert len(fake_stripe.objects("customer")) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(email="other@example.com", idempotency_key="create-org-17")

    # A card decline is a result: replayed as the same 402.
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            stripe.PaymentIntent.create(
                amount=600,
                currency="usd",
                payment_method="pm_card_chargeDeclined",
                confirm=True,
                off_session=True,
                idempotency_key="charge-inv-9",
            )
    assert len(fake_stripe.objects("payment_intent")) == 1


def test_concurrent_requests(fake_stripe):
    with ThreadPoolExecutor(max_workers=8) as pool:
        customers = list(pool.map(lambda n: new_customer(email=f"c{n}@example.com"), range(16)))
    assert len({customer.id for customer in customers}) == 16
    assert len(fake_stripe.objects("customer")) == 16
    assert len(fake_stripe.take_events("customer.created")) == 16


def _server_threads() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread.name == "FakeStripe" or "process_request_thread" in thread.name
    ]


def test_stop_ends_keep_alive_connections():
    before = len(_server_threads())
    fake = FakeStripe().start()
    try:
        client = fake.client()
        for _ in range(3):
            client.v1.customers.create(params={"email": "x@example.com"})
        assert len(_server_threads()) >= before + 2  # the server and a kept-alive connection
    finally:
        fake.stop()
    deadline = time.monotonic() + 3
    while len(_server_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(_server_threads()) == before


# --- webhooks --------------------------------------------------------------------------------------


def test_sign_event_uses_stripes_signature_scheme(fake_stripe):
    customer = new_customer()
    events = fake_stripe.complete_checkout(new_checkout(customer.id).id)
    body, header = sign_event(events[0], FAKE_WEBHOOK_SECRET)
    assert header.startswith("t=")
    assert ",v1=" in header
    event = stripe.Webhook.construct_event(body, header, FAKE_WEBHOOK_SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == events[0]["data"]["object"]["id"]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b"complete", b"c0mplete"), header, FAKE_WEBHOOK_SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_someone_else")
    old_body, old_header = sign_event(events[0], FAKE_WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(old_body, old_header, FAKE_WEBHOOK_SECRET, tolerance=300)


# --- dj-stripe ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_djstripe_syncs_account_and_customer(fake_stripe):
    from djstripe import models as djstripe

    synced = djstripe.Customer.sync_from_stripe_data(new_customer())  # as stripe_customer_id does
    customer = synced
    card = saved_card(fake_stripe, customer.id)
    synced = djstripe.Customer.sync_from_stripe_data(
        stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": card})
    )

    assert synced.id == customer.id
    assert synced.email == "billing@dialtone.example"
    assert synced.livemode is False
    assert synced.metadata == {"organization_id": "17"}
    assert synced.default_payment_method.id == card
    assert synced.default_payment_method.customer == synced
    assert synced.djstripe_owner_account.id == FAKE_ACCOUNT_ID
    assert djstripe.APIKey.objects.get(secret=FAKE_SECRET_KEY).djstripe_owner_account.id == FAKE_ACCOUNT_ID
    fake_stripe.assert_all_handled()


@pytest.mark.django_db
def test_djstripe_syncs_payment_intent_charge_and_payment_method(fake_stripe):
    from djstripe import models as djstripe

    customer = djstripe.Customer.sync_from_stripe_data(new_customer())
    card = saved_card(fake_stripe, customer.id)
    intent = stripe.PaymentIntent.create(
        amount=2999, currency="usd", customer=customer.id, payment_method=card, off_session=True, confirm=True
    )

    synced_intent = djstripe.PaymentIntent.sync_from_stripe_data(stripe.PaymentIntent.retrieve(intent.id))
    assert synced_intent.customer.id == customer.id
    assert synced_intent.payment_method.id == card
    assert synced_intent.stripe_data["status"] == "succeeded"

    charge = djstripe.Charge.sync_from_stripe_data(stripe.Charge.retrieve(intent.latest_charge))
    assert charge.amount == Decimal("29.99")
    assert charge.status == "succeeded"
    assert charge.payment_intent == synced_intent
    assert charge.customer.id == customer.id
    assert charge.balance_transaction.amount == 2999
    assert charge.balance_transaction.type == "charge"

    payment_method = djstripe.PaymentMethod.sync_from_stripe_data(stripe.PaymentMethod.retrieve(card))
    assert payment_method.customer.id == customer.id
    assert payment_method.type == "card"
    fake_stripe.assert_all_handled()


@pytest.mark.django_db
def test_djstripe_processes_the_checkout_events(fake_stripe):
    from djstripe import models as djstripe

    customer = djstripe.Customer.sync_from_stripe_data(new_customer())
    session = new_checkout(customer.id)
    events = fake_stripe.complete_checkout(session.id)

    for payload in events:
        djstripe.Event.process(payload)

    assert djstripe.Event.objects.count() == 4
    synced_session = djstripe.Session.objects.get(id=session.id)
    assert synced_session.payment_status == "paid"
    assert synced_session.status == "complete"
    assert synced_session.customer.id == customer.id
    intent = djstripe.PaymentIntent.objects.get(id=synced_session.payment_intent.id)
    assert intent.stripe_data["metadata"] == {"invoice_id": "inv_1", "payment_id": "pay_1"}
    charge = djstripe.Charge.objects.get(payment_intent=intent)
    assert charge.amount == Decimal("34.99")
    payment_method = djstripe.PaymentMethod.objects.get(id=events[-1]["data"]["object"]["id"])
    assert payment_method.customer.id == customer.id
    assert djstripe.Event.process(events[0]).id == events[0]["id"]  # a redelivery is a no-op
    fake_stripe.assert_all_handled()


@pytest.mark.django_db
def test_djstripe_processes_refund_decline_and_dispute_events(fake_stripe):
    from djstripe import models as djstripe

    customer = djstripe.Customer.sync_from_stripe_data(new_customer())
    card = saved_card(fake_stripe, customer.id)
    intent = stripe.PaymentIntent.create(
        amount=4000, currency="usd", customer=customer.id, payment_method=card, off_session=True, confirm=True
    )
    stripe.Refund.create(payment_intent=intent.id, amount=1500)
    with pytest.raises(stripe.CardError) as declined:
        stripe.PaymentIntent.create(
            amount=700,
            currency="usd",
            customer=customer.id,
            payment_method="pm_card_chargeDeclined",
            off_session=True,
            confirm=True,
        )
    for payload in fake_stripe.take_events():
        if payload["type"] in HANDLED:  # the events the Stripe endpoint sends (README)
            djstripe.Event.process(payload)

    charge = djstripe.Charge.objects.get(id=intent.latest_charge)
    assert charge.amount_refunded == 1500
    assert charge.refunds.get().amount == 1500
    failed = djstripe.PaymentIntent.objects.get(id=declined.value.error.payment_intent.id)
    assert failed.stripe_data["status"] == "requires_payment_method"
    assert failed.stripe_data["last_payment_error"]["code"] == "card_declined"

    opened = fake_stripe.open_dispute(charge.id, reason="product_not_received")
    for payload in opened:
        djstripe.Event.process(payload)
    dispute = djstripe.Dispute.objects.get()
    assert dispute.status == "needs_response"
    assert dispute.reason == "product_not_received"
    assert dispute.charge == charge
    assert djstripe.BalanceTransaction.objects.filter(source=dispute.id, amount=-4000).exists()

    for payload in fake_stripe.close_dispute(dispute.id, status="lost"):
        djstripe.Event.process(payload)
    dispute.refresh_from_db()
    assert dispute.status == "lost"
    fake_stripe.assert_all_handled()
