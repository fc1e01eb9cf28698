"""Amounts between this project's minor units and Stripe's (audit item 12), checked on what
the Stripe API actually receives (the fake Stripe server on loopback) and on what Stripe
reports back, and plans refused in a currency the default gateway cannot charge."""

from __future__ import annotations

import pytest
from babel.numbers import get_currency_precision
from django.core.exceptions import ValidationError
from django.test import Client

from billing.services import payment_refund
from billing_project import money
from invoices.models import Invoice
from payments.gateways import GatewayError
from payments.gateways.stripe_events import normalize
from payments.gateways.stripe_gateway import from_stripe_amount, to_stripe_amount
from payments.models import Payment
from plans.tests.factories import PlanFactory

from .fake_stripe import sign_event
from .support import CANCEL_URL, CHECKOUT, SUCCESS_URL, assert_error, start_checkout

pytestmark = pytest.mark.django_db

# Stripe's documented rule (https://docs.stripe.com/currencies): these in whole units,
# these in thousandths (the last digit 0), every other currency in hundredths.
STRIPE_DOCUMENTED_ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
STRIPE_DOCUMENTED_THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}

# (currency, price in our minor units, what Stripe is sent, a partial refund, what Stripe is sent for it)
ROUND_TRIPS = [
    ("KWD", 1230, 1230, 500, 500),  # 1.230 KWD: fils on both sides (it was sent as 123)
    ("JPY", 500, 500, 100, 100),  # whole yen on both sides
    ("USD", 2999, 2999, 1000, 1000),  # cents on both sides
    ("IDR", 150_000, 15_000_000, 50_000, 5_000_000),  # whole rupiah here, hundredths at Stripe
]


def deliver_all(events: list[dict]) -> None:
    for event in events:
        body, signature = sign_event(event)
        response = Client().post(
            "/webhooks/stripe", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert response.status_code == 200, (event["type"], response.content)


def plan_in(currency: str, price_cents: int):
    return PlanFactory(code=f"plan_{currency.lower()}_{price_cents}", currency=currency, price_cents=price_cents)


# --- the table -------------------------------------------------------------------------------


def test_stripes_exponent_follows_its_documented_rule_for_every_currency_it_charges():
    for currency in sorted(money.STRIPE_CURRENCIES):
        documented = (
            0 if currency in STRIPE_DOCUMENTED_ZERO_DECIMAL else 3 if currency in STRIPE_DOCUMENTED_THREE_DECIMAL else 2
        )
        assert money.gateway_exponent("stripe", currency) == documented, currency


def test_our_exponent_is_iso_4217_except_the_currencies_billed_in_whole_units():
    assert money.exponent("KWD") == get_currency_precision("KWD") == 3
    assert money.exponent("USD") == 2
    assert money.exponent("JPY") == 0
    assert money.exponent("IDR") == 0  # billed in whole rupiah, though ISO 4217 gives it 2 decimals


@pytest.mark.parametrize(("currency", "ours", "stripes", "_refund", "_stripe_refund"), ROUND_TRIPS)
def test_amounts_convert_exactly_both_ways(currency, ours, stripes, _refund, _stripe_refund):
    assert to_stripe_amount(ours, currency) == stripes
    assert from_stripe_amount(stripes, currency) == ours
    assert to_stripe_amount(ours, currency.lower()) == stripes


def test_a_kwd_amount_stripe_cannot_take_is_refused_not_rounded():
    with pytest.raises(GatewayError, match=r"KWD") as excinfo:
        to_stripe_amount(1235, "KWD")
    assert "1.235" in excinfo.value.message


def test_an_amount_stripe_reports_that_our_unit_cannot_hold_is_refused_not_truncated():
    with pytest.raises(GatewayError, match=r"IDR"):
        from_stripe_amount(15_000_050, "IDR")  # 150,000.50 rupiah; we bill whole rupiah


# --- through the Stripe API -------------------------------------------------------------------


@pytest.mark.parametrize(("currency", "ours", "stripes", "refund_cents", "stripe_refund"), ROUND_TRIPS)
def test_stripe_receives_and_reports_each_currencys_amounts_in_its_own_units(
    stripe_ready, owner, currency, ours, stripes, refund_cents, stripe_refund
):
    plan = plan_in(currency, ours)

    data = start_checkout(owner, plan, gateway="stripe")

    payment = Payment.objects.get(pk=data["session_id"])
    assert (payment.currency, payment.amount_cents) == (currency, ours)
    sent = stripe_ready.calls("POST", "/v1/checkout/sessions")[0].params["line_items"][0]["price_data"]
    assert (sent["currency"], int(sent["unit_amount"])) == (currency.lower(), stripes)
    assert stripe_ready.get(payment.reference)["amount_total"] == stripes

    events = stripe_ready.complete_checkout(payment.reference)
    reported = {event["type"]: normalize(event) for event in events}
    assert reported["checkout.session.completed"][0].amount_cents == ours
    assert reported["payment_intent.succeeded"][0].amount_cents == ours
    deliver_all(events)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert Invoice.objects.get(pk=payment.invoice_id).amount_paid_cents == ours

    payment.reference = stripe_ready.get(payment.reference)["payment_intent"]
    payment.save()
    refund = payment_refund(payment=payment, amount_cents=refund_cents, reason="goodwill")

    assert int(stripe_ready.calls("POST", "/v1/refunds")[0].params["amount"]) == stripe_refund
    refunded = stripe_ready.take_events("charge.refunded")
    assert [event.amount_cents for event in normalize(refunded[-1])] == [refund_cents]
    deliver_all(refunded)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.amount_cents) == ("succeeded", refund_cents)
    assert payment.status == "partially_refunded"


def test_a_checkout_for_a_kwd_amount_stripe_cannot_take_is_refused_before_stripe_is_asked(stripe_ready, owner):
    from subscriptions.models import Subscription

    plan = plan_in("KWD", 1235)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(plan.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "stripe"},
        format="json",
    )

    error = assert_error(response, 502, "gateway_error")
    assert "1.235 KWD" in error["message"]
    assert stripe_ready.calls("POST", "/v1/checkout/sessions") == []
    assert stripe_ready.calls("POST", "/v1/customers") == []
    assert Subscription.objects.count() == Invoice.objects.count() == Payment.objects.count() == 0


def test_a_kwd_refund_stripe_cannot_take_is_refused_before_stripe_is_asked(stripe_ready, owner):
    plan = plan_in("KWD", 1230)
    payment = Payment.objects.get(pk=start_checkout(owner, plan, gateway="stripe")["session_id"])
    deliver_all(stripe_ready.complete_checkout(payment.reference))
    payment.refresh_from_db()
    payment.reference = stripe_ready.get(payment.reference)["payment_intent"]
    payment.save()

    with pytest.raises(GatewayError, match=r"0\.005 KWD"):
        payment_refund(payment=payment, amount_cents=5, reason="goodwill")

    assert stripe_ready.calls("POST", "/v1/refunds") == []


# --- plans in a currency the default gateway cannot charge ---------------------------------


def test_a_plan_in_a_currency_stripe_cannot_charge_is_refused_when_stripe_is_the_default(settings):
    settings.DEFAULT_GATEWAY = "stripe"
    plan = PlanFactory.build(code="rial", currency="IRR", price_cents=1000)

    with pytest.raises(ValidationError) as excinfo:
        plan.full_clean()

    assert list(excinfo.value.message_dict) == ["currency"]
    assert "IRR" in excinfo.value.message_dict["currency"][0]
    assert "stripe" in excinfo.value.message_dict["currency"][0]


@pytest.mark.parametrize("currency", ["KWD", "JPY", "USD", "IDR"])
def test_a_plan_in_a_currency_stripe_charges_is_accepted_when_stripe_is_the_default(settings, currency):
    settings.DEFAULT_GATEWAY = "stripe"
    PlanFactory.build(code="priced", currency=currency, price_cents=1230).full_clean()  # does not raise


def test_a_plan_is_checked_against_the_default_gateways_currencies(settings):
    settings.DEFAULT_GATEWAY = "xendit"
    with pytest.raises(ValidationError) as excinfo:
        PlanFactory.build(code="dollars", currency="USD", price_cents=1000).full_clean()
    assert "currency" in excinfo.value.message_dict
    PlanFactory.build(code="rupiah", currency="IDR", price_cents=150_000).full_clean()  # does not raise

    settings.DEFAULT_GATEWAY = "sandbox"  # takes any currency
    PlanFactory.build(code="rial", currency="IRR", price_cents=1000).full_clean()  # does not raise
