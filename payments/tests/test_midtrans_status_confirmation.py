"""Midtrans' signature_key covers order_id + status_code + gross_amount only: a genuine signed
notification can be resent with another transaction_status, another fraud_status or a
made-up `refunds` list and still verify. Every state change a notification asks for is
therefore confirmed with the status API (GET /v2/{order_id}/status) before it is applied,
and what is applied is what the status API reports. Against the fake Midtrans
(payments/tests/fake_midtrans.py); only the network boundary is faked."""

from __future__ import annotations

import pytest

from payments.models import Refund
from plans.tests.factories import PlanFactory
from webhooks.models import InboundEvent

from .support import assert_error
from .test_midtrans import PAID, PRICE, UNPAID, checkout, deliver, deliver_ok, make_indonesian, paid_checkout, state


@pytest.fixture
def idr_plan(db):
    return PlanFactory(code="pro-idr", name="Pro", price_cents=PRICE, currency="IDR", trial_days=0)


@pytest.fixture
def midtrans(fake_midtrans, org):
    make_indonesian(org)
    return fake_midtrans


def status_calls(fake, payment) -> int:
    return len(fake.calls("GET", f"/v2/{payment.reference}/status"))


pytestmark = pytest.mark.django_db

# --- refunds the notification body makes up -------------------------------------------------


def test_a_settlement_resent_as_a_refund_with_made_up_refunds_records_no_refund(midtrans, owner, idr_plan, settings):
    payment = paid_checkout(owner, idr_plan, midtrans)
    settlement = midtrans.notifications[-1]
    assert settlement["transaction_status"] == "settlement"
    forged = {
        **settlement,  # signature_key, order_id, status_code and gross_amount untouched: it verifies
        "transaction_status": "refund",
        "refund_amount": f"{PRICE}.00",
        "refunds": [{"refund_key": "forged-1", "refund_amount": f"{PRICE}.00", "reason": "free money"}],
    }

    response = deliver(forged)

    assert response.status_code in (200, 400), response.content
    assert state(payment) == PAID
    assert not Refund.objects.exists()
    assert status_calls(midtrans, payment) >= 1


def test_a_genuine_partial_refund_with_an_inflated_body_records_what_the_status_api_reports(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)
    note = midtrans.refund(payment.reference, 100_000, reason="dashboard")
    inflated = {
        **note,
        "transaction_status": "refund",
        "refund_amount": f"{PRICE}.00",
        "refunds": [{**note["refunds"][0], "refund_amount": f"{PRICE}.00"}],
    }

    deliver_ok(inflated)

    assert state(payment) == {
        **PAID,
        "payment": "partially_refunded",
        "refunded": 100_000,
        "refunds": [(100_000, "succeeded")],
    }
    assert Refund.objects.get().reference == note["refunds"][0]["refund_key"]


def test_a_genuine_dashboard_refund_is_confirmed_and_recorded(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)
    before = status_calls(midtrans, payment)

    deliver_ok(midtrans.refund(payment.reference, 100_000, reason="dashboard"))

    assert status_calls(midtrans, payment) == before + 1
    assert state(payment) == {
        **PAID,
        "payment": "partially_refunded",
        "refunded": 100_000,
        "refunds": [(100_000, "succeeded")],
    }


def test_the_status_api_unreachable_for_a_refund_is_a_retryable_answer_and_nothing_is_applied(
    midtrans, owner, idr_plan
):
    payment = paid_checkout(owner, idr_plan, midtrans)
    note = midtrans.refund(payment.reference, 100_000, reason="dashboard")
    stored = InboundEvent.objects.count()
    midtrans.fail_next(f"/v2/{payment.reference}/status", status=503)

    response = deliver(note)

    assert_error(response, 502, "gateway_error")
    assert InboundEvent.objects.count() == stored
    assert state(payment) == PAID

    deliver_ok(note)  # Midtrans delivers it again
    assert state(payment)["refunds"] == [(100_000, "succeeded")]


def test_a_status_api_error_under_http_200_for_a_refund_is_a_retryable_answer(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)
    note = midtrans.refund(payment.reference, 100_000, reason="dashboard")
    midtrans.errors_as_http_200 = True
    midtrans.fail_next(f"/v2/{payment.reference}/status", status=500)

    assert_error(deliver(note), 502, "gateway_error")
    assert state(payment) == PAID


# --- other statuses the signature does not bind -------------------------------------------------


def test_a_cancel_resent_as_a_settlement_does_not_pay(midtrans, owner, idr_plan, settings):
    """A canceled transfer's notification carries status_code 200 like a settlement's."""
    _, payment = checkout(owner, idr_plan)
    deliver_ok(midtrans.pending(payment.reference, "bank_transfer"))
    canceled = midtrans.cancel(payment.reference)
    assert canceled["status_code"] == "200"

    deliver({**canceled, "transaction_status": "settlement", "fraud_status": "accept", "transaction_id": "forged-tx"})

    assert state(payment)["payment"] in ("pending", "failed")
    assert state(payment)["invoice"] == "open"


def test_a_pending_notification_resent_as_expired_does_not_fail_the_payment(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)
    pending = midtrans.pending(payment.reference, "bank_transfer")
    deliver_ok(pending)

    deliver_ok({**pending, "transaction_status": "expire"})

    assert state(payment) == UNPAID
